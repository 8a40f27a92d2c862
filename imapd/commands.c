/* commands.c - the IMAP command table (name -> handler, allowed states, flags) and argument helpers shared by the handlers. */
#include "commands.h"
#include "compress.h"
#include "notify.h"
#include "fileutil.h"
#include "imap_render.h"
#include "log.h"
#include "xalloc.h"
#include "mailbox.h"
#include "mailbox_view.h"
#include "seqset.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>
#include <strings.h>

#define S_ANY    (IMAP_STATE_NOAUTH | IMAP_STATE_AUTH | IMAP_STATE_SELECTED)
#define S_NOAUTH IMAP_STATE_NOAUTH
#define S_AUTH   (IMAP_STATE_AUTH | IMAP_STATE_SELECTED)
#define S_SEL    IMAP_STATE_SELECTED

static const struct command command_table[] = {
	{ "APPEND", cmd_append, S_AUTH, CMD_FLAG_STORE, NULL },
	{ "AUTHENTICATE", cmd_authenticate, S_NOAUTH, CMD_FLAG_NO_SYNC, NULL },
	{ "CANCELUPDATE", cmd_cancelupdate, S_SEL, 0, NULL },
	{ "CAPABILITY", cmd_capability, S_ANY, 0, NULL },
	{ "CHECK", cmd_check, S_SEL, CMD_FLAG_STORE, NULL },
	{ "CLOSE", cmd_close, S_SEL, CMD_FLAG_NO_SYNC | CMD_FLAG_STORE, NULL },
	{ "COMPRESS", cmd_compress, S_AUTH, CMD_FLAG_NO_SYNC, NULL },
	{ "COPY", cmd_copy, S_SEL, CMD_FLAG_UID | CMD_FLAG_STORE, NULL },
	{ "CREATE", cmd_create, S_AUTH, CMD_FLAG_STORE, NULL },
	{ "DELETE", cmd_delete, S_AUTH, CMD_FLAG_STORE, NULL },
	{ "ENABLE", cmd_enable, IMAP_STATE_AUTH, 0, NULL },
	{ "EXAMINE", cmd_select, S_AUTH, CMD_FLAG_NO_SYNC | CMD_FLAG_STORE, NULL },
	{ "EXPUNGE", cmd_expunge, S_SEL, CMD_FLAG_UID | CMD_FLAG_STORE, NULL },
	{ "FETCH", cmd_fetch, S_SEL,
	  CMD_FLAG_UID | CMD_FLAG_NO_EXPUNGE | CMD_FLAG_STORE | CMD_FLAG_BATCH, cmd_fetch_files },
	{ "GETQUOTA", cmd_getquota, S_AUTH, CMD_FLAG_STORE, NULL },
	{ "GETQUOTAROOT", cmd_getquotaroot, S_AUTH, CMD_FLAG_STORE, NULL },
	{ "ID", cmd_id, S_ANY, 0, NULL },
	{ "IDLE", cmd_idle, S_AUTH, CMD_FLAG_STORE, NULL },
	{ "LIST", cmd_list, S_AUTH, CMD_FLAG_STORE, NULL },
	{ "LOGIN", cmd_login, S_NOAUTH, CMD_FLAG_NO_SYNC, NULL },
	{ "LOGOUT", cmd_logout, S_ANY, CMD_FLAG_NO_SYNC, NULL },
	{ "LSUB", cmd_list, S_AUTH, CMD_FLAG_STORE, NULL },
	{ "MOVE", cmd_copy, S_SEL, CMD_FLAG_UID | CMD_FLAG_STORE, NULL },
	{ "NAMESPACE", cmd_namespace, S_AUTH, 0, NULL },
	{ "NOOP", cmd_noop, S_ANY, CMD_FLAG_BATCH, NULL },
	{ "NOTIFY", cmd_notify, S_AUTH, CMD_FLAG_STORE, NULL },
	{ "RENAME", cmd_rename, S_AUTH, CMD_FLAG_STORE, NULL },
	{ "SEARCH", cmd_search, S_SEL,
	  CMD_FLAG_UID | CMD_FLAG_NO_EXPUNGE | CMD_FLAG_STORE | CMD_FLAG_BATCH | CMD_FLAG_HEAVY,
	  NULL },
	{ "SELECT", cmd_select, S_AUTH, CMD_FLAG_NO_SYNC | CMD_FLAG_STORE, NULL },
	{ "SETQUOTA", cmd_setquota, S_AUTH, 0, NULL },
	{ "SORT", cmd_sort, S_SEL,
	  CMD_FLAG_UID | CMD_FLAG_NO_EXPUNGE | CMD_FLAG_STORE | CMD_FLAG_BATCH | CMD_FLAG_HEAVY,
	  NULL },
	{ "STARTTLS", cmd_starttls, S_NOAUTH, CMD_FLAG_NO_SYNC, NULL },
	{ "STATUS", cmd_status, S_AUTH, CMD_FLAG_STORE, NULL },
	{ "STORE", cmd_store, S_SEL,
	  CMD_FLAG_UID | CMD_FLAG_NO_EXPUNGE | CMD_FLAG_STORE | CMD_FLAG_BATCH, NULL },
	{ "SUBSCRIBE", cmd_subscribe, S_AUTH, CMD_FLAG_STORE, NULL },
	{ "THREAD", cmd_thread, S_SEL,
	  CMD_FLAG_UID | CMD_FLAG_NO_EXPUNGE | CMD_FLAG_STORE | CMD_FLAG_BATCH | CMD_FLAG_HEAVY,
	  NULL },
	{ "UNSELECT", cmd_close, S_SEL, CMD_FLAG_NO_SYNC | CMD_FLAG_STORE, NULL },
	{ "UNSUBSCRIBE", cmd_subscribe, S_AUTH, CMD_FLAG_STORE, NULL },
};

const struct command *command_find(const char *name)
{
	size_t lo = 0, hi = sizeof(command_table) / sizeof(command_table[0]);
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int r = strcmp(name, command_table[mid].name);
		if (r == 0)
			return &command_table[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int command_seqset_resolve(const struct mailbox *mb, bool uid, const struct imap_arg *a,
			   struct seqset *out)
{
	const char *error;
	struct seqset raw;
	seqset_init(&raw);
	if (!imap_arg_is_atom(a) || imap_arg_is_nil(a) ||
	    seqset_parse(a->str, a->len, 0, &raw, &error) < 0)
		return -1;
	uint32_t max = uid ? (mb->count ? mb->msgs[mb->count - 1].uid : 0) : (uint32_t)mb->count;
	seqset_resolve(&raw, max, out);
	seqset_free(&raw);
	if (!uid) {
		uint32_t hi;
		if (seqset_max(out, &hi) && hi > mb->count)
			return -2;
	}
	return 0;
}

/* "$" (SEARCHRES, RFC 5182): the saved UIDs that still exist, as UIDs or sequence numbers. */
static bool command_seqset_saved(const struct imap_client *c, bool uid, const struct imap_arg *a,
				 struct seqset *out)
{
	if (!imap_arg_is_atom(a) || a->len != 1 || a->str[0] != '$')
		return false;
	const struct mailbox *mb = c->view->mb;
	for (size_t i = 0; i < mb->count; i++)
		if (seqset_contains(&c->view->saved, mb->msgs[i].uid))
			seqset_add(out, uid ? mb->msgs[i].uid : (uint32_t)(i + 1));
	return true;
}

int command_seqset(struct imap_client *c, const struct imap_command *cmd, const struct imap_arg *a,
		   struct seqset *out)
{
	const struct mailbox *mb = c->view->mb;
	if (command_seqset_saved(c, cmd->uid, a, out))
		return 0;
	int r = command_seqset_resolve(mb, cmd->uid, a, out);
	if (r == -1)
		client_tagged(c, cmd->tag, "BAD", "Invalid sequence set");
	else if (r < 0)
		client_tagged(c, cmd->tag, "BAD", "Invalid sequence number (%u messages)",
			      (unsigned)mb->count);
	return r < 0 ? -1 : 0;
}

static bool command_keyword_ok(const char *s)
{
	if (!*s || strlen(s) > 100)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || (unsigned char)*s >= 0x7f ||
		    strchr("(){%*\"\\]", *s))
			return false;
	return true;
}

int command_flags(struct imap_client *c, const struct imap_command *cmd, const struct imap_arg *a,
		  unsigned *flags_r, const char **kw, size_t kwmax, size_t *nkw_r)
{
	const struct imap_arg *list = a;
	unsigned n = 1;
	if (a->type == IMAP_ARG_LIST)
		imap_arg_list(a, &list, &n);
	*flags_r = 0;
	*nkw_r = 0;
	for (unsigned i = 0; i < n; i++) {
		if (!imap_arg_is_atom(&list[i])) { /* NIL too: a keyword like any other atom */
			client_tagged(c, cmd->tag, "BAD", "Invalid flag");
			return -1;
		}
		const char *f = list[i].str;
		if (f[0] == '\\') {
			size_t k;
			for (k = 0; k < IMAP_SYSTEM_FLAGS; k++)
				if (strcasecmp(f, imap_system_flags[k].name) == 0)
					break;
			if (k == IMAP_SYSTEM_FLAGS) {
				if (strcasecmp(f, "\\Recent") == 0)
					continue; /* cannot be stored: ignored */
				client_tagged(c, cmd->tag, "BAD", "Invalid system flag %s",
					      strcasecmp(f, "\\*") == 0 ? "\\*" : "");
				return -1;
			}
			*flags_r |= imap_system_flags[k].flag;
			continue;
		}
		if (!command_keyword_ok(f)) {
			client_tagged(c, cmd->tag, "BAD", "Invalid keyword");
			return -1;
		}
		bool dup = false;
		for (size_t k = 0; k < *nkw_r; k++)
			if (strcasecmp(kw[k], f) == 0)
				dup = true;
		if (dup)
			continue;
		if (*nkw_r >= kwmax) {
			client_tagged(c, cmd->tag, "NO", "[LIMIT] Too many keywords");
			return -1;
		}
		kw[(*nkw_r)++] = f;
	}
	return 0;
}

int command_read_message(struct imap_client *c, size_t i, char **data_r, size_t *len_r)
{
	*data_r = NULL;
	*len_r = 0;
	int fd = mailbox_msg_open(c->view->mb, i);
	if (fd < 0) {
		if (fd != -ENOENT)
			log_warn("imap: user=%s, cannot open message %zu of %s: %s", c->user, i + 1,
				 c->view->mb->path, strerror(-fd));
		return -1;
	}
	size_t got = 0;
	char *data = NULL;
	int r = read_fd_whole(fd, SIZE_MAX, &data, &got);
	close(fd);
	if (r < 0) {
		log_warn("imap: user=%s, cannot read message %zu of %s: %s", c->user, i + 1,
			 c->view->mb->path, strerror(-r));
		return -1;
	}
	*data_r = data;
	*len_r = got;
	return 0;
}

void command_enable_condstore(struct imap_client *c)
{
	if (c->enabled & IMAP_ENABLED_CONDSTORE)
		return;
	c->enabled |= IMAP_ENABLED_CONDSTORE;
	if (c->view) {
		uint64_t hm = c->view->mb->highest_modseq;
		client_send(c, "* OK [HIGHESTMODSEQ %llu] Highest\r\n",
			    (unsigned long long)(hm ? hm : 1));
	}
}
