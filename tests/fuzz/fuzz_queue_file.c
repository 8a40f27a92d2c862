/* fuzz_queue_file.c - libFuzzer target: queue_file_decode over any file image; what decodes re-encodes to the same sealed envelope. */
#undef NDEBUG /* the checks below are the point, in every build type */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "queue_file.h"

static bool fuzz_queue_streq(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

static void fuzz_queue_check(const struct queue_envelope *env, size_t len)
{
	assert(queue_id_valid(env->id));
	assert(env->sender != NULL && env->nrcpts > 0);
	assert(env->msg_offset <= len && env->msg_len <= len - env->msg_offset);
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		assert(r->addr != NULL && r->addr[0] != '\0');
		assert(r->state <= QUEUE_RCPT_FAILED);
		assert(r->attempts <= 1000000);
	}
}

/* Encodes env (with msg) plus one state record per recipient and decodes it again. */
static void fuzz_queue_roundtrip(const struct queue_envelope *env, const char *msg)
{
	struct buf file, tail;
	buf_init(&file);
	buf_init(&tail);
	queue_file_encode(env, msg, env->msg_len, &file, &tail);
	buf_append(&file, msg, env->msg_len);
	buf_append(&file, tail.data, tail.len);
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct queue_rcpt *r = &env->rcpts[i];
		if (r->state == QUEUE_RCPT_DELIVERED)
			queue_state_delivered(&file, i, r->done_time, r->via);
		else if (r->state == QUEUE_RCPT_FAILED)
			queue_state_failed(&file, i, r->done_time, r->code, r->last_error);
		else if (r->state == QUEUE_RCPT_DEFERRED)
			queue_state_deferred(&file, i, r->attempts, r->next_attempt, r->last_error);
	}
	if (env->bounced)
		queue_state_bounced(&file, env->bounced);

	struct queue_envelope again, again2;
	const char *error = NULL;
	int rc = queue_file_decode(file.data, file.len, &again, &error);
	assert(rc == 0);
	assert(strcmp(again.id, env->id) == 0 && again.arrival == env->arrival);
	assert(fuzz_queue_streq(again.sender, env->sender));
	assert(fuzz_queue_streq(again.body_flags, env->body_flags));
	assert(fuzz_queue_streq(again.client, env->client));
	assert(fuzz_queue_streq(again.helo, env->helo));
	assert(fuzz_queue_streq(again.auth, env->auth));
	assert(fuzz_queue_streq(again.proto, env->proto));
	assert(again.held == env->held && again.bounced == env->bounced);
	assert(again.msg_len == env->msg_len);
	assert(memcmp(file.data + again.msg_offset, msg, env->msg_len) == 0);
	assert(again.nrcpts == env->nrcpts);
	for (size_t i = 0; i < env->nrcpts; i++) {
		const struct queue_rcpt *a = &again.rcpts[i], *b = &env->rcpts[i];
		assert(strcmp(a->addr, b->addr) == 0 && fuzz_queue_streq(a->orig, b->orig));
		assert(a->state == b->state);
		if (b->state == QUEUE_RCPT_DELIVERED || b->state == QUEUE_RCPT_FAILED)
			assert(a->done_time == b->done_time);
		if (b->state == QUEUE_RCPT_FAILED)
			assert(a->code == b->code);
		if (b->state == QUEUE_RCPT_DEFERRED)
			assert(a->attempts == b->attempts && a->next_attempt == b->next_attempt);
	}
	/* The commit record seals what precedes it: one changed byte there, or a cut before
	 * its end, is a torn file and never decodes. */
	size_t sealed = file.len - 1;
	while (sealed > 0 && !(file.data[sealed - 1] == '\n' && file.data[sealed] == 'E'))
		sealed--;
	assert(sealed > 0);
	size_t at = env->msg_len ? again.msg_offset + (size_t)(unsigned char)msg[0] % env->msg_len
				 : sealed / 2;
	file.data[at] ^= 0x20;
	assert(queue_file_decode(file.data, file.len, &again2, &error) == -1);
	file.data[at] ^= 0x20;
	assert(queue_file_decode(file.data, sealed + 3, &again2, &error) == -1);
	queue_envelope_free(&again);
	buf_free(&file);
	buf_free(&tail);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* a private copy, so reads past the end are caught by ASan */
	char *copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	struct queue_envelope env;
	const char *error = NULL;
	if (queue_file_decode(copy, size, &env, &error) == 0) {
		fuzz_queue_check(&env, size);
		fuzz_queue_roundtrip(&env, copy + env.msg_offset);
		queue_envelope_free(&env);
	} else {
		assert(error != NULL && error[0] != '\0');
		assert(env.rcpts == NULL && env.sender == NULL);
	}
	free(copy);
	return 0;
}
