/* commands.h - the IMAP command table: name -> handler, the states it is allowed in, flags; and the handlers. */
#ifndef MAIL_IMAP_COMMANDS_H
#define MAIL_IMAP_COMMANDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "imap_parser.h"

enum command_flag {
	CMD_FLAG_UID = 1 << 0,        /* may be prefixed with UID */
	CMD_FLAG_NO_EXPUNGE = 1 << 1, /* no untagged EXPUNGE before its tagged response */
	CMD_FLAG_NO_SYNC = 1 << 2,    /* sends its own updates (or none) */
	CMD_FLAG_STORE = 1 << 3, /* reads or writes the store: its body runs on the thread pool */
	CMD_FLAG_BATCH = 1 << 4, /* in the selected state, pipelined runs of these commands share
					 * one pool job (client.c); they change no state, mode or folder */
	CMD_FLAG_HEAVY = 1 << 5, /* may read every message of a folder (SEARCH): at most
				  * imapd.pool_heavy_max such jobs run at once (client.c) */
};

typedef void (*command_fn)(struct imap_client *c, const struct imap_command *cmd);
/* The messages whose files cmd will read, in order, into idx (at most max; returns how many),
 * while their sizes fit in *bytes_left (reduced). For read-ahead (client.c): sends nothing; a
 * command that does not parse gives none (its handler answers it). */
typedef size_t (*command_files_fn)(const struct imap_client *c, const struct imap_command *cmd,
				   uint64_t *bytes_left, size_t *idx, size_t max);

struct command {
	const char *name;
	command_fn fn;
	unsigned states;        /* enum imap_state bits */
	unsigned flags;         /* enum command_flag bits */
	command_files_fn files; /* the files a batch may read ahead for it, or NULL */
};

/* Looks up an upper-cased command name; NULL when unknown. */
const struct command *command_find(const char *name);

/* cmd_auth.c */
void cmd_capability(struct imap_client *c, const struct imap_command *cmd);
void cmd_noop(struct imap_client *c, const struct imap_command *cmd);
void cmd_logout(struct imap_client *c, const struct imap_command *cmd);
void cmd_starttls(struct imap_client *c, const struct imap_command *cmd);
void cmd_login(struct imap_client *c, const struct imap_command *cmd);
void cmd_authenticate(struct imap_client *c, const struct imap_command *cmd);
void cmd_id(struct imap_client *c, const struct imap_command *cmd);
void cmd_enable(struct imap_client *c, const struct imap_command *cmd);
void cmd_namespace(struct imap_client *c, const struct imap_command *cmd);

/* cmd_mailbox.c */
void cmd_select(struct imap_client *c, const struct imap_command *cmd);
void cmd_create(struct imap_client *c, const struct imap_command *cmd);
void cmd_delete(struct imap_client *c, const struct imap_command *cmd);
void cmd_rename(struct imap_client *c, const struct imap_command *cmd);
void cmd_subscribe(struct imap_client *c, const struct imap_command *cmd);
void cmd_list(struct imap_client *c, const struct imap_command *cmd);
void cmd_status(struct imap_client *c, const struct imap_command *cmd);

/* cmd_append.c */
void cmd_append(struct imap_client *c, const struct imap_command *cmd);

/* cmd_fetch.c: what does not fit the output backlog at once goes on through c->cont (client.h). */
void cmd_fetch(struct imap_client *c, const struct imap_command *cmd);
/* Its command_files_fn: the messages of the set that need their bytes. */
size_t cmd_fetch_files(const struct imap_client *c, const struct imap_command *cmd,
		       uint64_t *bytes_left, size_t *idx, size_t max);

/* cmd_store.c */
void cmd_store(struct imap_client *c, const struct imap_command *cmd);

/* cmd_search.c */
void cmd_search(struct imap_client *c, const struct imap_command *cmd);
/* Whether message i of the selected folder matches prog (bytes loaded only when a key needs
 * them; needs_tz: search_needs_tz(prog->root)). SORT and THREAD share it. */
struct search_program;
struct search_error;
int command_search_match(struct imap_client *c, const struct search_program *prog, size_t i,
			 bool needs_tz);
/* The reply to a search program that did not parse (NO [BADCHARSET], NO [LIMIT] or BAD). */
void command_search_error(struct imap_client *c, const struct imap_command *cmd,
			  const struct search_error *err);
/* RFC 6855 3 (errata 4029): after ENABLE UTF8=ACCEPT a SEARCH with CHARSET (optional: any
 * given, mandatory: SORT and THREAD, any but UTF-8) is BAD. Answers and returns true then. */
bool command_utf8_charset_bad(struct imap_client *c, const struct imap_command *cmd,
			      const struct search_program *prog, bool mandatory);

/* cmd_sort.c: SORT, UID SORT (ESORT's RETURN), THREAD, UID THREAD */
void cmd_sort(struct imap_client *c, const struct imap_command *cmd);
void cmd_thread(struct imap_client *c, const struct imap_command *cmd);
/* The messages of the selected folder that match p's search, as indexes in p's order (folder
 * order without criteria); *idx_r is malloc'd. Returns 0, or -1 when the client went. */
struct sort_program;
int command_sort_run(struct imap_client *c, const struct sort_program *p, size_t **idx_r,
		     size_t *n_r);
/* Appends numbers in their order, runs of ascending consecutive ones as "a:b". */
void command_write_ordered_set(struct buf *b, const uint32_t *v, size_t n);

/* cmd_context.c: CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267) */
void cmd_cancelupdate(struct imap_client *c, const struct imap_command *cmd);
/* Appends " PARTIAL (lo:hi set)" for the result v[0..n) in its order (NIL when empty). */
void command_write_partial(struct buf *b, const struct search_program *prog, const uint32_t *v,
			   size_t n);
/* Keeps the result idx[0..n) of the command cmd (SEARCH or SORT RETURN (UPDATE)) up to date:
 * takes over p (leaves it empty), or answers nothing when the session has too many. */
void command_context_add(struct imap_client *c, const struct imap_command *cmd,
			 struct sort_program *p, const size_t *idx, size_t n);
/* Sends ADDTO/REMOVEFROM for every kept result that changed (on the pool). */
void command_context_update(struct imap_client *c);
/* Messages leave the folder (their EXPUNGE lines follow): REMOVEFROM with the numbers they
 * had (uids[k] was sequence number seqs[k]). */
void command_context_expunged(struct imap_client *c, const uint32_t *uids, const uint32_t *seqs,
			      size_t n);
/* Ends every kept result (the folder closes, the session ends). */
void command_contexts_free(struct imap_client *c);

/* cmd_copy.c */
void cmd_copy(struct imap_client *c, const struct imap_command *cmd);

/* cmd_quota.c (RFC 9208) */
void cmd_getquota(struct imap_client *c, const struct imap_command *cmd);
void cmd_getquotaroot(struct imap_client *c, const struct imap_command *cmd);
void cmd_setquota(struct imap_client *c, const struct imap_command *cmd);
/* Would add more bytes exceed the session's account quota? Then answers tag
 * "NO [OVERQUOTA]" and returns true (on the pool: reads maildirsize). */
bool cmd_quota_refuse(struct imap_client *c, const char *tag, uint64_t add);
/* The same for copies of the messages idxs[0..n) of mb. */
struct mailbox;
bool cmd_quota_refuse_copy(struct imap_client *c, const char *tag, struct mailbox *mb,
			   const size_t *idxs, size_t n);

/* cmd_expunge.c */
void cmd_expunge(struct imap_client *c, const struct imap_command *cmd);
void cmd_close(struct imap_client *c, const struct imap_command *cmd);
void cmd_check(struct imap_client *c, const struct imap_command *cmd);

/* cmd_idle.c: waits for DONE through c->cont (client.h). */
void cmd_idle(struct imap_client *c, const struct imap_command *cmd);

/* Shared argument helpers (commands.c). */
/* Parses a sequence set argument for the selected folder (UID when uid), '*' resolved
 * against the highest sequence number or UID. Returns 0, or -1 after a BAD response. */
struct seqset;
int command_seqset(struct imap_client *c, const struct imap_command *cmd, const struct imap_arg *a,
		   struct seqset *out);
/* The same without a response: 0, -1 for an invalid set, -2 for a sequence number above
 * the message count. */
struct mailbox;
int command_seqset_resolve(const struct mailbox *mb, bool uid, const struct imap_arg *a,
			   struct seqset *out);
/* Parses a flag list or single flag: system flags into *flags_r, keywords into kw (pointers
 * into the argument tree, at most 26+). Returns 0, or -1 after a BAD response. */
int command_flags(struct imap_client *c, const struct imap_command *cmd, const struct imap_arg *a,
		  unsigned *flags_r, const char **kw, size_t kwmax, size_t *nkw_r);
/* Reads message i of the selected folder whole into *data_r (free it). Returns 0, or -1
 * when the file vanished (expunged elsewhere) or cannot be read (logged). */
int command_read_message(struct imap_client *c, size_t i, char **data_r, size_t *len_r);
/* Appends "* n FETCH (...)" for message i of the selected folder with req's attributes, as
 * FETCH renders it but setting no flag (NOTIFY's MessageNew fetch-att). Pool. */
struct fetch_request;
void command_fetch_unsolicited(struct imap_client *c, const struct fetch_request *req, size_t i,
			       struct buf *b);
/* A CONDSTORE-enabling command (FETCH MODSEQ, SEARCH MODSEQ, STORE UNCHANGEDSINCE, ...):
 * enables CONDSTORE and, the first time with a folder selected, sends "* OK [HIGHESTMODSEQ n]"
 * (RFC 7162 3.1). */
void command_enable_condstore(struct imap_client *c);

#endif
