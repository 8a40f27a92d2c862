/* test_milter_proto.c - unit tests of the milter protocol codec: framing, negotiation, replies, header and body edits. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "milter_proto.h"

static void test_msg(struct buf *b, const char *text)
{
	buf_init(b);
	buf_append_str(b, text);
}

Test(milter_proto, packet_framing)
{
	struct buf b;
	buf_init(&b);
	milter_put_optneg(&b, 6, MILTER_ACTIONS_ALL, MILTER_P_OFFERED);
	cr_assert_eq(b.len, 17);
	cr_expect_arr_eq(b.data, "\x00\x00\x00\x0dO\x00\x00\x00\x06\x00\x00\x01\xff", 13);
	buf_reset(&b);
	const char *args[] = { "<a@example.org>", "SIZE=10" };
	milter_put_strings(&b, MILTER_CMD_MAIL, args, 2);
	cr_assert_eq(b.len, 5 + 16 + 8);
	cr_expect_arr_eq(b.data, "\x00\x00\x00\x19M<a@example.org>\0SIZE=10\0", b.len);
	buf_reset(&b);
	milter_put_connect(&b, "[192.0.2.1]", '4', 2525, "192.0.2.1");
	cr_expect_arr_eq(b.data,
			 "\x00\x00\x00\x1a"
			 "C[192.0.2.1]\0"
			 "4\x09\xdd"
			 "192.0.2.1\0",
			 b.len);
	buf_reset(&b);
	milter_put_connect(&b, "localhost", 'U', 0, NULL);
	cr_expect_arr_eq(b.data,
			 "\x00\x00\x00\x0c"
			 "Clocalhost\0U",
			 b.len);
	buf_free(&b);
}

Test(milter_proto, macros_filtered_by_symlist)
{
	struct buf b;
	buf_init(&b);
	const char *m[] = { "j",  "mx.test", "{daemon_name}", "smtp", "{if_addr}", NULL, "i",
			    "Q1", NULL };
	milter_put_macros(&b, MILTER_CMD_CONNECT, m, NULL);
	cr_expect_arr_eq(b.data,
			 "\x00\x00\x00\x24"
			 "DCj\0mx.test\0{daemon_name}\0smtp\0i\0Q1\0",
			 b.len);
	buf_reset(&b);
	milter_put_macros(&b, MILTER_CMD_CONNECT, m, "{i} daemon_name");
	cr_expect_arr_eq(b.data,
			 "\x00\x00\x00\x1a"
			 "DC{daemon_name}\0smtp\0i\0Q1\0",
			 b.len);
	buf_reset(&b);
	milter_put_macros(&b, MILTER_CMD_CONNECT, m, "{other}");
	cr_expect_eq(b.len, 0, "no macro left: no packet");
	buf_free(&b);
}

Test(milter_proto, packet_next)
{
	char cmd;
	const char *data, *err;
	size_t len, used;
	cr_expect_eq(milter_packet_next("\x00\x00\x00", 3, 100, &cmd, &data, &len, &used, &err), 0);
	cr_expect_eq(
		milter_packet_next("\x00\x00\x00\x02y", 5, 100, &cmd, &data, &len, &used, &err), 0);
	cr_assert_eq(milter_packet_next("\x00\x00\x00\x01"
					"cXX",
					7, 100, &cmd, &data, &len, &used, &err),
		     1);
	cr_expect_eq(cmd, 'c');
	cr_expect_eq(len, 0);
	cr_expect_eq(used, 5);
	cr_expect_eq(milter_packet_next("\x00\x00\x00\x00", 4, 100, &cmd, &data, &len, &used, &err),
		     -1);
	cr_expect_str_eq(err, "packet of length 0");
	cr_expect_eq(milter_packet_next("\x7f\xff\xff\xff", 4, 100, &cmd, &data, &len, &used, &err),
		     -1);
	cr_expect_str_eq(err, "packet too long");
}

Test(milter_proto, optneg)
{
	struct milter_optneg o;
	const char *err;
	const char ok[] = "\x00\x00\x00\x06\x00\x00\x00\x03\x00\x10\x00\x92"
			  "\x00\x00\x00\x05"
			  "{i} j\0"
			  "\x00\x00\x00\x02"
			  "{mail_addr}";
	cr_assert_eq(milter_optneg_decode(ok, sizeof(ok), MILTER_ACTIONS_ALL, MILTER_P_OFFERED, &o,
					  &err),
		     0, "%s", err);
	cr_expect_eq(o.version, 6);
	cr_expect_eq(o.actions, MILTER_F_ADDHDRS | MILTER_F_CHGBODY);
	cr_expect_eq(o.protocol,
		     MILTER_P_HDR_LEADSPC | MILTER_P_NR_HDR | MILTER_P_NOBODY | MILTER_P_NOHELO);
	cr_expect_str_eq(o.symlist[MILTER_M_EOM], "{i} j");
	cr_expect_str_eq(o.symlist[MILTER_M_ENVFROM], "{mail_addr}");
	cr_expect_null(o.symlist[MILTER_M_CONNECT]);

	/* Internal bits are ignored; anything else not offered is an error. */
	cr_expect_eq(milter_optneg_decode("\0\0\0\x06\0\0\0\0\x10\0\0\0", 12, 0, MILTER_P_OFFERED,
					  &o, &err),
		     0);
	cr_expect_eq(o.protocol, 0);
	cr_expect_eq(milter_optneg_decode("\0\0\0\x06\0\0\0\0\0\0\x08\0", 12, 0, MILTER_P_OFFERED,
					  &o, &err),
		     -1);
	cr_expect_eq(milter_optneg_decode("\0\0\0\x06\0\0\0\x01\0\0\0\0", 12, 0, MILTER_P_OFFERED,
					  &o, &err),
		     -1);
	cr_expect_eq(milter_optneg_decode("\0\0\0\x07\0\0\0\0\0\0\0\0", 12, 0, 0, &o, &err), -1);
	cr_expect_eq(milter_optneg_decode("\0\0\0\x01\0\0\0\0\0\0\0\0", 12, 0, 0, &o, &err), -1);
	cr_expect_eq(milter_optneg_decode("\0\0\0\x06\0\0\0\0\0\0\0", 11, 0, 0, &o, &err), -1);
	cr_expect_eq(
		milter_optneg_decode("\0\0\0\x06\0\0\0\0\0\0\0\0\0\0\0\x01j", 17, 0, 0, &o, &err),
		-1, "unterminated list");
	cr_expect_eq(
		milter_optneg_decode("\0\0\0\x06\0\0\0\0\0\0\0\0\0\0\0\x09j\0", 18, 0, 0, &o, &err),
		-1, "unknown stage");
}

Test(milter_proto, replies)
{
	struct milter_reply r;
	const char *err;
	cr_expect_eq(milter_reply_decode('c', "", 0, &r, &err), 0);
	cr_expect_eq(milter_reply_decode('c', "x", 1, &r, &err), -1);
	cr_expect_eq(milter_reply_decode('Z', "", 0, &r, &err), -1);
	cr_assert_eq(milter_reply_decode('y', "550 5.7.1 no\0", 13, &r, &err), 0);
	cr_expect_str_eq(r.s1, "550 5.7.1 no");
	cr_expect_eq(milter_reply_decode('y', "550 5.7.1 no", 12, &r, &err), -1, "unterminated");
	cr_expect_eq(milter_reply_decode('y', "a\0b\0", 4, &r, &err), -1, "trailing data");
	cr_assert_eq(milter_reply_decode('h', "X-A\0v\0", 6, &r, &err), 0);
	cr_expect_str_eq(r.s1, "X-A");
	cr_expect_str_eq(r.s2, "v");
	cr_expect_eq(milter_reply_decode('h', "X-A\0v", 5, &r, &err), -1);
	cr_assert_eq(milter_reply_decode('m', "\0\0\0\x02Subject\0\0", 13, &r, &err), 0);
	cr_expect_eq(r.index, 2);
	cr_expect_str_eq(r.s2, "");
	cr_expect_eq(milter_reply_decode('i', "\0\0\0", 3, &r, &err), -1);
	cr_assert_eq(milter_reply_decode('2', "<b@x>\0NOTIFY=NEVER\0", 19, &r, &err), 0);
	cr_expect_str_eq(r.s2, "NOTIFY=NEVER");
	cr_assert_eq(milter_reply_decode('e', "<b@x>\0", 6, &r, &err), 0);
	cr_expect_null(r.s2);
	cr_assert_eq(milter_reply_decode('b', "new\r\nbody", 9, &r, &err), 0);
	cr_expect_eq(r.body_len, 9);
}

Test(milter_proto, reply_format)
{
	struct buf b;
	const char *err;
	buf_init(&b);
	cr_expect_eq(milter_reply_format("550 5.7.1 Go away", 17, &b, &err), 550);
	cr_expect_str_eq(b.data, "550 5.7.1 Go away\r\n");
	buf_reset(&b);
	const char ml[] = "451-4.7.1 one\r\n451-4.7.1 two\r\n451 4.7.1 three";
	cr_expect_eq(milter_reply_format(ml, strlen(ml), &b, &err), 451);
	cr_expect_str_eq(b.data, "451-4.7.1 one\r\n451-4.7.1 two\r\n451 4.7.1 three\r\n");
	buf_reset(&b);
	cr_expect_eq(milter_reply_format("554", 3, &b, &err), 554);
	cr_expect_str_eq(b.data, "554 \r\n");
	buf_reset(&b);
	cr_expect_eq(milter_reply_format("550 a\x01"
					 "b",
					 7, &b, &err),
		     550);
	cr_expect_str_eq(b.data, "550 a?b\r\n");
	buf_reset(&b);
	cr_expect_eq(milter_reply_format("250 ok", 6, &b, &err), -1, "2xx is not a rejection");
	cr_expect_eq(milter_reply_format("550-a\n451 b", 11, &b, &err), -1, "mixed codes");
	cr_expect_eq(milter_reply_format("550-a", 5, &b, &err), -1, "last line with '-'");
	cr_expect_eq(milter_reply_format("550 a\n550 b", 11, &b, &err), -1, "early last line");
	cr_expect_eq(milter_reply_format("55x a", 5, &b, &err), -1);
	cr_expect_eq(milter_reply_format("", 0, &b, &err), -1);
	cr_expect_eq(b.len, 0, "nothing written on error");
	buf_free(&b);
}

Test(milter_proto, header_values)
{
	struct buf b;
	buf_init(&b);
	milter_value_to_wire(&b, " a\r\n\tb", 6);
	cr_expect_str_eq(b.data, " a\n\tb");
	buf_reset(&b);
	milter_value_from_wire(&b, "a\n\tb\r\nc\rd\n", 10);
	cr_expect_str_eq(b.data, "a\r\n\tb\r\n\tc\r\n\td",
			 "a line ending never starts a new field");
	buf_free(&b);
	cr_expect(milter_header_name_ok("X-Spam-Flag"));
	cr_expect_not(milter_header_name_ok(""));
	cr_expect_not(milter_header_name_ok("Bad Name"));
	cr_expect_not(milter_header_name_ok("Bad:Name"));
}

Test(milter_proto, header_edits)
{
	struct buf m;
	test_msg(&m, "Received: x\r\nSubject: s\r\nX-A: 1\r\nX-A: 2\r\n\r\nbody\r\n");
	milter_header_insert(&m, 0, "X-Top", "t", 1, false);
	milter_header_insert(&m, UINT32_MAX, "X-End", " e", 2, true);
	milter_header_insert(&m, 2, "X-Third", "3", 1, false);
	cr_expect_str_eq(
		m.data,
		"X-Top: t\r\nReceived: x\r\nX-Third: 3\r\nSubject: s\r\nX-A: 1\r\nX-A: 2\r\n"
		"X-End: e\r\n\r\nbody\r\n");
	milter_header_change(&m, 2, "x-a", "two", 3, false);
	milter_header_change(&m, 0, "Subject", "", 0, false);
	milter_header_change(&m, 5, "X-A", "", 0, false);    /* no fifth: nothing */
	milter_header_change(&m, 1, "X-New", "n", 1, false); /* none: added */
	cr_expect_str_eq(
		m.data,
		"X-Top: t\r\nReceived: x\r\nX-Third: 3\r\nX-A: 1\r\nx-a: two\r\nX-End: e\r\n"
		"X-New: n\r\n\r\nbody\r\n");
	buf_free(&m);

	/* A message without a body separator. */
	test_msg(&m, "Subject: s\r\n");
	milter_header_insert(&m, UINT32_MAX, "X-B", "b", 1, false);
	cr_expect_str_eq(m.data, "Subject: s\r\nX-B: b\r\n");
	buf_free(&m);
}

Test(milter_proto, body_replace)
{
	struct buf m;
	test_msg(&m, "Subject: s\r\n\r\nold body\r\n");
	milter_body_replace(&m, "new\nbody\r\nbare\rcr", 17);
	cr_expect_str_eq(m.data, "Subject: s\r\n\r\nnew\r\nbody\r\nbare\r\ncr\r\n");
	milter_body_replace(&m, "", 0);
	cr_expect_str_eq(m.data, "Subject: s\r\n\r\n");
	buf_free(&m);
	test_msg(&m, "Subject: s\r\n");
	milter_body_replace(&m, "b\r\n", 3);
	cr_expect_str_eq(m.data, "Subject: s\r\n\r\nb\r\n");
	buf_free(&m);
	size_t body;
	cr_expect_eq(milter_header_block_end("A: b\r\n\r\nc", 9, &body), 6);
	cr_expect_eq(body, 8);
	cr_expect_eq(milter_header_block_end("A: b\r\n", 6, &body), 6);
	cr_expect_eq(body, 6);
}
