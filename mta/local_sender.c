/* local_sender.c - the sender rules of local submission (the sendmail socket, state_dir/maildrop): whose envelope sender is honoured. */
#include "local_sender.h"

#include "str.h"

#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The login name of uid ("uidN" when it has none). */
static void local_sender_login(long uid, char *out, size_t outlen)
{
	struct passwd pw, *res = NULL;
	char tmp[4096];
	if (uid >= 0 && getpwuid_r((uid_t)uid, &pw, tmp, sizeof(tmp), &res) == 0 && res)
		snprintf(out, outlen, "%s", pw.pw_name);
	else
		snprintf(out, outlen, "uid%ld", uid);
}

bool local_sender_trusted(const struct config *cfg, long uid)
{
	if (uid == 0)
		return true;
	if (uid < 0)
		return false;
	struct passwd pw, *res = NULL;
	char tmp[4096];
	if (cfg->run_user && getpwnam_r(cfg->run_user, &pw, tmp, sizeof(tmp), &res) == 0 && res &&
	    (long)pw.pw_uid == uid)
		return true;
	for (size_t i = 0; i < cfg->trusted_users.n; i++) {
		res = NULL;
		if (getpwnam_r(cfg->trusted_users.items[i], &pw, tmp, sizeof(tmp), &res) == 0 &&
		    res && (long)pw.pw_uid == uid)
			return true;
	}
	return false;
}

bool local_sender_decide(const struct config *cfg, long uid, const char *requested, char *out,
			 size_t outlen, char *warning, size_t warnlen)
{
	char asked[1024], login[256], own[600];
	snprintf(asked, sizeof(asked), "%s", requested);
	if (warnlen)
		warning[0] = '\0';
	local_sender_login(uid, login, sizeof(login));
	snprintf(own, sizeof(own), "%s@%s", login, cfg->hostname);
	if (local_sender_trusted(cfg, uid) || strcasecmp(asked, own) == 0) {
		snprintf(out, outlen, "%s", asked);
		return false;
	}
	snprintf(out, outlen, "%s", own);
	/* What was asked for goes into a header: nothing but printable ASCII. */
	for (char *p = asked; *p; p++)
		if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e)
			*p = '?';
	snprintf(warning, warnlen, "X-Authentication-Warning: %s: %s set sender to %s using -f\r\n",
		 cfg->hostname, login, asked[0] ? asked : "<>");
	return true;
}
