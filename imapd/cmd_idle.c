/* cmd_idle.c - IDLE (RFC 2177): folder changes pushed as they happen (inotify via mailbox_view), keep-alives, DONE.
 * The syncs run on the thread pool (client_run_on_pool); IDLE itself is a store command. */
#include "commands.h"
#include "mailbox_view.h"

#include <string.h>
#include <strings.h>

static void idle_done_work(struct imap_client *c, void *arg)
{
	(void)arg;
	client_tagged(c, c->tag, "OK", "IDLE terminated");
}

/* A line received while idling ("DONE" ends it). */
static void idle_line(struct imap_client *c, const char *line, size_t len)
{
	c->mode = IMAP_MODE_COMMAND;
	client_enter_state(c, c->state); /* back to the normal timeout */
	if (len == 4 && strncasecmp(line, "DONE", 4) == 0)
		client_run_on_pool(c, idle_done_work, NULL, IMAP_MODE_COMMAND); /* it syncs */
	else
		client_tagged(c, c->tag, "BAD", "Expected DONE");
}

static void idle_keepalive_work(struct imap_client *c, void *arg)
{
	(void)arg;
	if (c->view)
		view_sync(c->view);
	client_send(c, "* OK Still here\r\n");
}

/* The keep-alive timer fired while idling (folder changes come through client_folder_changed). */
static void idle_keepalive(struct imap_client *c)
{
	client_run_on_pool(c, idle_keepalive_work, NULL, IMAP_MODE_IDLE);
}

void cmd_idle(struct imap_client *c, const struct imap_command *cmd)
{
	if (cmd->count) {
		client_tagged(c, cmd->tag, "BAD", "IDLE takes no arguments");
		return;
	}
	/* On the pool: the loop enters IDLE afterwards, arms the keep-alive timer and syncs again
	 * if a change came meanwhile (client_work_done). */
	client_sync(c, true);
	view_want_watch(c->view);
	client_send(c, "+ idling\r\n");
	client_wait_line(c, IMAP_MODE_IDLE, idle_line, idle_keepalive);
}
