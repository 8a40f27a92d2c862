/* fuzz_milter_proto.c - libFuzzer target: a milter's reply stream through framing, negotiation, reply decoding and the message edits. */
#undef NDEBUG /* the checks below are the point, in every build type */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "milter_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data;
	struct buf msg, newbody;
	buf_init(&msg);
	buf_init(&newbody);
	buf_append_str(&msg,
		       "Received: from x\r\n\tby y; date\r\nSubject: s\r\nX-A: 1\r\n\r\nbody\r\n");
	size_t pos = 0;
	int packets = 0;
	while (pos < size && packets++ < 256) {
		char cmd;
		const char *p, *err = NULL;
		size_t len, used;
		int r = milter_packet_next(in + pos, size - pos, 4096, &cmd, &p, &len, &used, &err);
		if (r <= 0) {
			assert(r == 0 || err);
			break;
		}
		assert(used == len + 5 && used <= size - pos);
		pos += used;
		if (cmd == MILTER_R_OPTNEG) {
			struct milter_optneg o;
			if (milter_optneg_decode(p, len, MILTER_ACTIONS_ALL, MILTER_P_OFFERED, &o,
						 &err) == 0) {
				assert(o.version >= 2 && o.version <= MILTER_VERSION);
				assert(!(o.protocol & ~MILTER_P_OFFERED));
				for (int i = 0; i < MILTER_M_NSTAGES; i++)
					assert(!o.symlist[i] ||
					       (o.symlist[i] >= p && o.symlist[i] < p + len));
			}
			continue;
		}
		struct milter_reply rep;
		if (milter_reply_decode(cmd, p, len, &rep, &err) < 0) {
			assert(err);
			continue;
		}
		struct buf v;
		buf_init(&v);
		switch (cmd) {
		case MILTER_R_REPLYCODE: {
			int code = milter_reply_format(rep.s1, strlen(rep.s1), &v, &err);
			assert(code == -1 || (code >= 400 && code <= 599));
			if (code > 0) {
				assert(v.len >= 6 && memcmp(v.data + v.len - 2, "\r\n", 2) == 0);
				for (size_t i = 0; i < v.len; i++)
					assert(v.data[i] != '\0');
			}
			break;
		}
		case MILTER_R_ADDHEADER:
		case MILTER_R_INSHEADER:
		case MILTER_R_CHGHEADER:
			if (!milter_header_name_ok(rep.s1))
				break;
			milter_value_from_wire(&v, rep.s2, strlen(rep.s2));
			for (size_t i = 0; i < v.len; i++)
				assert(v.data[i] != '\n' || (i > 0 && v.data[i - 1] == '\r'));
			if (msg.len > 64 * 1024)
				break;
			if (cmd == MILTER_R_CHGHEADER)
				milter_header_change(&msg, rep.index, rep.s1, v.data ? v.data : "",
						     v.len, false);
			else
				milter_header_insert(
					&msg, cmd == MILTER_R_INSHEADER ? rep.index : UINT32_MAX,
					rep.s1, v.data ? v.data : "", v.len, true);
			break;
		case MILTER_R_REPLBODY:
			buf_append(&newbody, rep.body, rep.body_len);
			break;
		default:
			break;
		}
		buf_free(&v);
	}
	if (newbody.len)
		milter_body_replace(&msg, newbody.data, newbody.len);
	/* The message keeps CRLF line endings. */
	for (size_t i = 0; i < msg.len; i++)
		if (msg.data[i] == '\n')
			assert(i > 0 && msg.data[i - 1] == '\r');
	size_t body;
	size_t hend = milter_header_block_end(msg.data, msg.len, &body);
	assert(hend <= body && body <= msg.len);
	buf_free(&msg);
	buf_free(&newbody);
	return 0;
}
