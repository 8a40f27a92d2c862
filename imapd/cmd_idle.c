/* cmd_idle.c - IDLE (RFC 2177): folder changes pushed as they happen (inotify via mailbox_view), keep-alives, DONE. */
#include "commands.h"
#include "mailbox_view.h"

#include <string.h>
#include <strings.h>

void cmd_idle(struct imap_client *c, const struct imap_command *cmd)
{
	if (cmd->count) {
		client_tagged(c, cmd->tag, "BAD", "IDLE takes no arguments");
		return;
	}
	client_sync(c, true);
	c->mode = IMAP_MODE_IDLE;
	client_send(c, "+ idling\r\n");
	net_conn_set_timeout(c->conn, IMAPD_IDLE_KEEPALIVE_MS);
	/* A change that arrived just before IDLE. */
	if (c->view && c->view->changed)
		view_sync(c);
}

void cmd_idle_line(struct imap_client *c, const char *line, size_t len)
{
	c->mode = IMAP_MODE_COMMAND;
	client_enter_state(c, c->state);	/* back to the normal timeout */
	if (len == 4 && strncasecmp(line, "DONE", 4) == 0)
		client_tagged(c, c->tag, "OK", "IDLE terminated");
	else
		client_tagged(c, c->tag, "BAD", "Expected DONE");
}

void cmd_idle_keepalive(struct imap_client *c)
{
	if (c->view)
		view_sync(c);
	client_send(c, "* OK Still here\r\n");
}
