/* test_queue_file.c - queue file encode/decode round trips, the state log, torn and malformed files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "queue_file.h"
#include "xalloc.h"

static void make_env(struct queue_envelope *env)
{
	memset(env, 0, sizeof(*env));
	queue_id_new(env->id);
	env->arrival = 1700000000;
	env->sender = xstrdup("alice@example.org");
	env->client = xstrdup("192.0.2.1");
	env->helo = xstrdup("client.example.org");
	env->proto = xstrdup("ESMTP");
	env->body_flags = xstrdup("8BITMIME");
	env->nrcpts = 3;
	env->rcpts = xcalloc(3, sizeof(*env->rcpts));
	env->rcpts[0].addr = xstrdup("bob@localhost");
	env->rcpts[1].addr = xstrdup("carol@localhost");
	env->rcpts[1].orig = xstrdup("team@localhost");
	env->rcpts[2].addr = xstrdup("dave@remote.example");
}

static const char MSG[] = "Subject: x\r\n\r\nbody with NUL \0 and binary\xff\r\n";

static void encode(const struct queue_envelope *env, struct buf *file)
{
	struct buf head, tail;
	buf_init(&head);
	buf_init(&tail);
	queue_file_encode(env, MSG, sizeof(MSG) - 1, &head, &tail);
	buf_append(file, head.data, head.len);
	buf_append(file, MSG, sizeof(MSG) - 1);
	buf_append(file, tail.data, tail.len);
	buf_free(&head);
	buf_free(&tail);
}

Test(queue_file, round_trip)
{
	struct queue_envelope env, got;
	struct buf file;
	const char *err = NULL;
	make_env(&env);
	buf_init(&file);
	encode(&env, &file);
	cr_assert_eq(queue_file_decode(file.data, file.len, &got, &err), 0, "%s", err);
	cr_assert_str_eq(got.id, env.id);
	cr_assert_eq(got.arrival, 1700000000);
	cr_assert_str_eq(got.sender, "alice@example.org");
	cr_assert_str_eq(got.helo, "client.example.org");
	cr_assert_str_eq(got.body_flags, "8BITMIME");
	cr_assert_eq(got.nrcpts, 3);
	cr_assert_str_eq(got.rcpts[1].addr, "carol@localhost");
	cr_assert_str_eq(got.rcpts[1].orig, "team@localhost");
	cr_assert_null(got.rcpts[0].orig);
	cr_assert_eq(got.msg_len, sizeof(MSG) - 1);
	cr_assert_eq(memcmp(file.data + got.msg_offset, MSG, sizeof(MSG) - 1), 0);
	for (size_t i = 0; i < 3; i++)
		cr_assert_eq(got.rcpts[i].state, QUEUE_RCPT_PENDING);
	queue_envelope_free(&got);
	queue_envelope_free(&env);
	buf_free(&file);
}

Test(queue_file, requiretls_flag)
{
	struct queue_envelope env, got;
	struct buf file;
	const char *err = NULL;
	make_env(&env);
	cr_expect_not(queue_envelope_requiretls(&env), "a file without the word");
	free(env.body_flags);
	env.body_flags = xstrdup("8BITMIME REQUIRETLS");
	buf_init(&file);
	encode(&env, &file);
	cr_assert_eq(queue_file_decode(file.data, file.len, &got, &err), 0, "%s", err);
	cr_expect(queue_envelope_requiretls(&got));
	free(got.body_flags);
	got.body_flags = NULL;
	cr_expect_not(queue_envelope_requiretls(&got), "old files have no body flags at all");
	got.body_flags = xstrdup("NOTREQUIRETLS REQUIRETLSX");
	cr_expect_not(queue_envelope_requiretls(&got));
	queue_envelope_free(&got);
	queue_envelope_free(&env);
	buf_free(&file);
}

Test(queue_file, null_sender)
{
	struct queue_envelope env, got;
	struct buf file;
	const char *err;
	make_env(&env);
	free(env.sender);
	env.sender = xstrdup("");
	buf_init(&file);
	encode(&env, &file);
	cr_assert_eq(queue_file_decode(file.data, file.len, &got, &err), 0);
	cr_assert_str_eq(got.sender, "");
	queue_envelope_free(&got);
	queue_envelope_free(&env);
	buf_free(&file);
}

Test(queue_file, state_log_last_record_wins)
{
	struct queue_envelope env, got;
	struct buf file;
	const char *err;
	make_env(&env);
	buf_init(&file);
	encode(&env, &file);
	queue_state_deferred(&file, 2, 1, 1700000060, "4.4.1 connect to mx: refused\nsecond line");
	queue_state_delivered(&file, 0, 1700000001, 0);
	queue_state_failed(&file, 1, 1700000002, 550, "5.1.1 user unknown");
	queue_state_deferred(&file, 0, 3, 1700000100, "late deferral after delivery is ignored");
	queue_state_deferred(&file, 2, 2, 1700000300, "4.4.1 again");
	queue_state_held(&file, true);
	queue_state_warned(&file, 1700014400);
	cr_assert_eq(queue_file_decode(file.data, file.len, &got, &err), 0);
	cr_assert_eq(got.warned, 1700014400);
	cr_assert_eq(got.bounced, 0);
	cr_assert_eq(got.rcpts[0].state, QUEUE_RCPT_DELIVERED);
	cr_assert_eq(got.rcpts[1].state, QUEUE_RCPT_FAILED);
	cr_assert_eq(got.rcpts[1].code, 550);
	cr_assert_str_eq(got.rcpts[1].last_error, "5.1.1 user unknown");
	cr_assert_eq(got.rcpts[2].state, QUEUE_RCPT_DEFERRED);
	cr_assert_eq(got.rcpts[2].attempts, 2);
	cr_assert_eq(got.rcpts[2].next_attempt, 1700000300);
	cr_assert_str_eq(got.rcpts[2].last_error, "4.4.1 again");
	cr_assert(got.held);
	queue_envelope_free(&got);
	queue_envelope_free(&env);
	buf_free(&file);
}

Test(queue_file, torn_trailing_record_is_ignored)
{
	struct queue_envelope env, got;
	struct buf file;
	const char *err;
	make_env(&env);
	buf_init(&file);
	encode(&env, &file);
	queue_state_delivered(&file, 0, 1700000001, 0);
	size_t good = file.len;
	queue_state_delivered(&file, 1, 1700000002, 0);
	/* every truncation inside the last record keeps the first state only */
	for (size_t cut = good; cut < file.len; cut++) {
		cr_assert_eq(queue_file_decode(file.data, cut, &got, &err), 0);
		cr_assert_eq(got.rcpts[0].state, QUEUE_RCPT_DELIVERED);
		cr_assert_eq(got.rcpts[1].state, QUEUE_RCPT_PENDING);
		queue_envelope_free(&got);
	}
	queue_envelope_free(&env);
	buf_free(&file);
}

Test(queue_file, incomplete_file_is_rejected)
{
	struct queue_envelope env, got;
	struct buf file;
	const char *err;
	make_env(&env);
	buf_init(&file);
	encode(&env, &file);
	/* every prefix that lacks the whole commit record (the file's last line) fails */
	for (size_t cut = 0; cut < file.len; cut++) {
		err = NULL;
		cr_assert_eq(queue_file_decode(file.data, cut, &got, &err), -1, "cut %zu", cut);
		cr_assert_not_null(err);
	}
	queue_envelope_free(&env);
	buf_free(&file);
}

/* A crash before the fdatasync finished can leave any mix of written and unwritten (zero or
 * stale) blocks, the commit record included: the seal (length + CRC-32 of everything before
 * it) refuses each such file. */
Test(queue_file, torn_commit_is_rejected)
{
	struct queue_envelope env, got;
	struct buf file;
	const char *err;
	make_env(&env);
	buf_init(&file);
	encode(&env, &file);
	char *copy = xmalloc(file.len);
	for (size_t i = 0; i < file.len; i++) {
		memcpy(copy, file.data, file.len);
		copy[i] = copy[i] == '\0' ? 'x' : '\0';
		err = NULL;
		cr_assert_eq(queue_file_decode(copy, file.len, &got, &err), -1, "byte %zu", i);
		cr_assert_not_null(err);
	}
	/* a whole zero-filled block in the message, everything else in place */
	memcpy(copy, file.data, file.len);
	cr_assert_eq(queue_file_decode(copy, file.len, &got, &err), 0, "%s", err);
	memset(copy + got.msg_offset, 0, got.msg_len);
	queue_envelope_free(&got);
	cr_assert_eq(queue_file_decode(copy, file.len, &got, &err), -1);
	cr_assert(strstr(err, "checksum") != NULL, "%s", err);
	free(copy);
	queue_envelope_free(&env);
	buf_free(&file);
}

/* Files written by the earlier tmp + rename commit (version MQ1, empty END) still load. */
Test(queue_file, unsealed_version_1_still_decodes)
{
	struct queue_envelope got;
	const char *err = NULL;
	const char *v1 = "V3:MQ1\nI16:0123456789ABCDEF\nT1:1\nS0:\nR1:a\nM2:hi\nE0:\nD4:0 17\n";
	cr_assert_eq(queue_file_decode(v1, strlen(v1), &got, &err), 0, "%s", err);
	cr_assert_eq(got.rcpts[0].state, QUEUE_RCPT_DELIVERED);
	queue_envelope_free(&got);
}

Test(queue_file, malformed_envelopes)
{
	struct queue_envelope got;
	const char *err;
	const char *bad[] = {
		"",
		"X3:MQ1\n",
		"V3:MQ2\n",
		"V3:MQ1\nI16:0123456789ABCDEF\nT1:1\nS0:\nM0:\nE0:\n",         /* no recipient */
		"V3:MQ1\nI3:../\nT1:1\nS0:\nR1:a\nM0:\nE0:\n",                 /* bad id */
		"V3:MQ1\nI16:0123456789ABCDEF\nT2:1x\nS0:\nR1:a\nM0:\nE0:\n",  /* bad time */
		"V3:MQ1\nI16:0123456789ABCDEF\nT1:1\nS0:\nR1:a\nM999:\nE0:\n", /* length past end */
		"V3:MQ1\nI16:0123456789ABCDEF\nT1:1\nS0:\nR1:a\nZ0:\nM0:\nE0:\n", /* unknown type */
		"V3:MQ1\nI16:0123456789ABCDEF\nT1:1\nS0:\nR1:a\nM0:\nM0:\nE0:\n", /* two messages */
		"V3:MQ1\nI16:0123456789ABCDEF\nT1:1\nS1:\0\nR1:a\nM0:\nE0:\n",    /* NUL */
		"V3:MQ2\nI16:0123456789ABCDEF\nT1:1\nS0:\nR1:a\nM0:\nE0:\n",      /* unsealed v2 */
		"V3:MQ2\nI16:0123456789ABCDEF\nT1:1\nS0:\nR1:a\nM0:\nE3:abc\n",   /* bad seal */
		"V3:MQ2\nI16:0123456789ABCDEF\nT1:1\nS0:\nR1:a\nM0:\nE11:-1 00000000\n",
		"V3:MQ2\nI16:0123456789ABCDEF\nT1:1\nS0:\nR1:a\nM0:\nE11:46 0000000\n",
		"V3:MQ1\nI16:0123456789ABCDEF\nT1:1\nS0:\nR1:a\nM0:\nE11:46 00000000\n", /* v1 sealed */
	};
	size_t lens[] = { 0, 7, 7, 0, 0, 0, 0, 0, 0, 51, 0, 0, 0, 0, 0 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t len = lens[i] ? lens[i] : strlen(bad[i]);
		cr_assert_eq(queue_file_decode(bad[i], len, &got, &err), -1, "case %zu", i);
	}
	const char *good = "V3:MQ1\nI16:0123456789ABCDEF\nT1:1\nS0:\nR1:a\nM0:\nE0:\n";
	cr_assert_eq(queue_file_decode(good, strlen(good), &got, &err), 0, "%s", err);
	queue_envelope_free(&got);
	/* the same in version 2, sealed: 46 bytes before E, their CRC-32 */
	char v2[128];
	const char *body = "V3:MQ2\nI16:0123456789ABCDEF\nT1:1\nS0:\nR1:a\nM0:\n";
	cr_assert_eq(strlen(body), 46);
	snprintf(v2, sizeof(v2), "%sE11:46 %08x\n", body, (unsigned)queue_crc32(0, body, 46));
	cr_assert_eq(queue_file_decode(v2, strlen(v2), &got, &err), 0, "%s", err);
	queue_envelope_free(&got);
	cr_assert_eq(queue_crc32(0, "123456789", 9), 0xCBF43926u); /* the CRC-32 check value */
	/* in pieces of any length, the same as in one go (zlib.crc32 of the 4096 bytes) */
	char big[4096];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + i / 251);
	uint32_t whole = queue_crc32(0, big, sizeof(big)), parts = 0;
	for (size_t at = 0, step = 1; at < sizeof(big); at += step, step = step * 3 % 17 + 1)
		parts = queue_crc32(parts, big + at,
				    at + step > sizeof(big) ? sizeof(big) - at : step);
	cr_assert_eq(parts, whole);
	cr_assert_eq(whole, 0xe67689deu, "%08x", (unsigned)whole);
}

Test(queue_file, ids_are_unique_and_valid)
{
	char prev[QUEUE_ID_MAX + 1] = "", id[QUEUE_ID_MAX + 1];
	for (int i = 0; i < 10000; i++) {
		queue_id_new(id);
		cr_assert(queue_id_valid(id));
		cr_assert(strcmp(id, prev) > 0, "%s after %s", id, prev);
		strcpy(prev, id);
	}
	cr_assert_not(queue_id_valid("../etc/passwd"));
	cr_assert_not(queue_id_valid("abc"));
	cr_assert_not(queue_id_valid("0123456789abcdef")); /* lower case is not ours */
}

Test(queue_file, dsn_parameters_round_trip)
{
	struct queue_envelope env, got;
	struct buf file;
	const char *err = NULL;
	make_env(&env);
	env.ret = 2; /* SMTP_RET_HDRS */
	env.envid = xstrdup("QQ314159");
	env.rcpts[0].notify = 2 | 8; /* SUCCESS,DELAY */
	env.rcpts[0].orcpt = xstrdup("rfc822;Bob+x@localhost");
	env.rcpts[2].notify = 1; /* NEVER */
	buf_init(&file);
	encode(&env, &file);
	cr_assert_not_null(strstr(file.data, "N13:SUCCESS,DELAY\n"));
	queue_state_delivered(&file, 0, 1700000001, QUEUE_VIA_LOCAL);
	queue_state_delivered(&file, 2, 1700000002, QUEUE_VIA_DSN);
	cr_assert_eq(queue_file_decode(file.data, file.len, &got, &err), 0, "%s", err);
	cr_assert_eq(got.ret, 2);
	cr_assert_str_eq(got.envid, "QQ314159");
	cr_assert_eq(got.rcpts[0].notify, 2 | 8);
	cr_assert_str_eq(got.rcpts[0].orcpt, "rfc822;Bob+x@localhost");
	cr_assert_eq(got.rcpts[1].notify, 0);
	cr_assert_null(got.rcpts[1].orcpt);
	cr_assert_str_eq(got.rcpts[1].orig, "team@localhost");
	cr_assert_eq(got.rcpts[2].notify, 1);
	cr_assert_eq(got.rcpts[0].via, QUEUE_VIA_LOCAL);
	cr_assert_eq(got.rcpts[2].via, QUEUE_VIA_DSN);
	cr_assert_eq(got.rcpts[2].state, QUEUE_RCPT_DELIVERED);
	queue_envelope_free(&env);
	queue_envelope_free(&got);
	buf_free(&file);
}

/* A file written before the DSN records existed: no N/K/F/J, "D<index> <time>" without the
 * delivery route. It loads as "no DSN parameters". */
Test(queue_file, file_without_dsn_records_still_loads)
{
	struct buf file;
	struct queue_envelope got;
	const char *err = NULL;
	buf_init(&file);
	queue_record_put(&file, 'V', "MQ2", 3);
	queue_record_put(&file, 'I', "0123456789ABCDEF", 16);
	queue_record_put(&file, 'T', "1700000000", 10);
	queue_record_put(&file, 'S', "a@example.org", 13);
	queue_record_put(&file, 'R', "b@example.org", 13);
	queue_record_put(&file, 'O', "c@example.org", 13);
	queue_record_put(&file, 'R', "d@example.org", 13);
	queue_record_put(&file, 'M', "Subject: x\r\n\r\nhi\r\n", 18);
	queue_record_putf(&file, 'E', "%zu %08x", file.len,
			  (unsigned)queue_crc32(0, file.data, file.len));
	queue_record_put(&file, 'D', "1 1700000001", 12);
	cr_assert_eq(queue_file_decode(file.data, file.len, &got, &err), 0, "%s", err);
	cr_assert_eq(got.nrcpts, 2);
	cr_assert_eq(got.ret, 0);
	cr_assert_null(got.envid);
	for (size_t i = 0; i < 2; i++) {
		cr_assert_eq(got.rcpts[i].notify, 0);
		cr_assert_null(got.rcpts[i].orcpt);
	}
	cr_assert_eq(got.rcpts[1].state, QUEUE_RCPT_DELIVERED);
	cr_assert_eq(got.rcpts[1].via, 0);
	queue_envelope_free(&got);
	buf_free(&file);
}

Test(queue_file, bad_dsn_records_are_rejected)
{
	static const char *const bad[] = { "N5:NEVERX\n", "N13:NEVER,SUCCESS\n", "F4:SOME\n",
					   "K0:\n" };
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct buf file;
		struct queue_envelope got;
		const char *err = NULL;
		buf_init(&file);
		queue_record_put(&file, 'V', "MQ2", 3);
		queue_record_put(&file, 'I', "0123456789ABCDEF", 16);
		queue_record_put(&file, 'S', "a@example.org", 13);
		queue_record_put(&file, 'R', "b@example.org", 13);
		buf_append_str(&file, bad[k]);
		queue_record_put(&file, 'M', "x\r\n", 3);
		queue_record_putf(&file, 'E', "%zu %08x", file.len,
				  (unsigned)queue_crc32(0, file.data, file.len));
		cr_assert_eq(queue_file_decode(file.data, file.len, &got, &err), -1, "%s", bad[k]);
		buf_free(&file);
	}
}
