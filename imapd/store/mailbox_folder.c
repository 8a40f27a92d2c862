/* mailbox_folder.c - the folders of one account as Maildir++ subdirectories: name mapping, LIST, CREATE, DELETE, RENAME, subscriptions. */
#include "fileutil.h"
#include "imap_utf7.h"
#include "mailbox.h"
#include "mailbox_index.h"
#include "quota.h"
#include "store.h"
#include "xalloc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAILBOX_SUBS_FILE   "subscriptions"
#define MAILBOX_SUBS_TMP    "subscriptions.tmp"
#define MAILBOX_SUBS_LOCK   "subscriptions.lock"
#define MAILBOX_MAX_FOLDERS 100000

static bool mailbox_is_inbox(const char *name)
{
	return strcasecmp(name, "INBOX") == 0;
}

/* An IMAP folder name (other than INBOX) that maps to one Maildir++ directory. */
static bool mailbox_folder_name_ok(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len + 1 > NAME_MAX || name[0] == '/' || name[len - 1] == '/')
		return false;
	const char *comp = name;
	for (const char *p = name;; p++) {
		if (*p == '/' || *p == '\0') {
			if (p == comp)
				return false; /* "a//b" */
			comp = p + 1;
			if (*p == '\0')
				break;
			continue;
		}
		unsigned char c = (unsigned char)*p;
		/* '.' is the Maildir++ separator (this also refuses ".", ".." and ".hidden");
		 * '*' and '%' are LIST wildcards; 8-bit and control bytes are not modified
		 * UTF-7. */
		if (c < 0x20 || c > 0x7e || c == '.' || c == '*' || c == '%')
			return false;
	}
	return imap_utf7_is_valid(name);
}

int mailbox_folder_path(const char *account_dir, const char *name, char *out, size_t outlen)
{
	if (!account_dir || !name || !*account_dir)
		return -1;
	if (mailbox_is_inbox(name)) {
		if (snprintf(out, outlen, "%s", account_dir) >= (int)outlen)
			return -1;
		return 0;
	}
	if (!mailbox_folder_name_ok(name))
		return -1;
	int n = snprintf(out, outlen, "%s/.", account_dir);
	if (n < 0 || (size_t)n + strlen(name) >= outlen)
		return -1;
	for (const char *p = name; *p; p++)
		out[n++] = *p == '/' ? '.' : *p;
	out[n] = '\0';
	return 0;
}

/* ".A.B" directory entry -> "A/B", or NULL when it is not a folder name we accept. */
static char *mailbox_folder_from_dir(const char *d_name)
{
	if (d_name[0] != '.' || d_name[1] == '\0' || strcmp(d_name, "..") == 0)
		return NULL;
	char *name = xstrdup(d_name + 1);
	for (char *p = name; *p; p++) {
		if (*p == '.')
			*p = '/';
	}
	if (!mailbox_folder_name_ok(name)) {
		free(name);
		return NULL;
	}
	return name;
}

static bool mailbox_isdir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* ---- subscriptions ---- */

/* Reads the subscription list (Dovecot's old one-per-line format; its "V\t2" format with
 * '\t' as separator is read too). Returns the count; names in *v. */
static size_t mailbox_subs_read(const char *account_dir, char ***v_r)
{
	char path[PATH_MAX], *data = NULL;
	size_t len = 0, n = 0, cap = 0;
	char **v = NULL;
	*v_r = NULL;
	if (snprintf(path, sizeof(path), "%s/" MAILBOX_SUBS_FILE, account_dir) >= (int)sizeof(path))
		return 0;
	if (read_file(path, 4 << 20, false, &data, &len) < 0)
		return 0;
	for (char *p = data; p < data + len;) {
		char *nl = memchr(p, '\n', (size_t)(data + len - p));
		char *le = nl ? nl : data + len;
		*le = '\0';
		if (le > p && le[-1] == '\r')
			le[-1] = '\0';
		if (*p && strcmp(p, "V\t2") != 0 && n < MAILBOX_MAX_FOLDERS) {
			for (char *q = p; *q; q++) {
				if (*q == '\t')
					*q = '/';
			}
			if (n == cap) {
				cap = cap ? cap * 2 : 16;
				v = xrealloc(v, cap * sizeof(*v));
			}
			v[n++] = xstrdup(p);
		}
		p = le + 1;
	}
	free(data);
	*v_r = v;
	return n;
}

static void mailbox_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Rewrites the subscriptions under the account's subscription lock: adds add; drops remove
 * (and with_children, the names below it), or with rename_to renames them instead. */
static int mailbox_subs_change(const char *account_dir, const char *add, const char *remove,
			       bool with_children, const char *rename_to)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/" MAILBOX_SUBS_LOCK, account_dir) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open_lock_file(path, 0600);
	if (fd < 0)
		return fd;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int r = -errno;
			close(fd);
			return r;
		}
	}
	char **v;
	size_t n = mailbox_subs_read(account_dir, &v);
	struct buf b;
	buf_init(&b);
	bool have_add = false;
	size_t rlen = remove ? strlen(remove) : 0;
	for (size_t i = 0; i < n; i++) {
		bool hit = remove && (strcmp(v[i], remove) == 0 ||
				      (with_children && strncmp(v[i], remove, rlen) == 0 &&
				       v[i][rlen] == '/'));
		if (hit && rename_to) {
			char *nn = xasprintf("%s%s", rename_to, v[i] + rlen);
			free(v[i]);
			v[i] = nn;
		} else if (hit) {
			continue;
		}
		bool dup = false;
		for (size_t j = 0; j < i && !dup; j++)
			dup = v[j] && strcmp(v[j], v[i]) == 0;
		if (dup) {
			free(v[i]);
			v[i] = NULL;
			continue;
		}
		if (add && strcmp(v[i], add) == 0)
			have_add = true;
		buf_printf(&b, "%s\n", v[i]);
	}
	if (add && !have_add)
		buf_printf(&b, "%s\n", add);
	int r = mailbox_file_replace(account_dir, MAILBOX_SUBS_TMP, MAILBOX_SUBS_FILE,
				     b.data ? b.data : "", b.len);
	buf_free(&b);
	mailbox_strv_free(v, n);
	close(fd);
	return r;
}

int mailbox_subscribe(const char *account_dir, const char *name, bool subscribe)
{
	if (!mailbox_is_inbox(name) && !mailbox_folder_name_ok(name))
		return -EINVAL;
	const char *canon = mailbox_is_inbox(name) ? "INBOX" : name;
	if (!mailbox_isdir(account_dir)) {
		int r = store_maildir_create(account_dir);
		if (r < 0)
			return r;
	}
	return mailbox_subs_change(account_dir, subscribe ? canon : NULL, subscribe ? NULL : canon,
				   false, NULL);
}

/* ---- LIST ---- */

static const char *mailbox_special_use(const char *name)
{
	static const struct {
		const char *name, *use;
	} map[] = {
		{ "Sent", "\\Sent" },           { "Sent Messages", "\\Sent" },
		{ "Sent Items", "\\Sent" },     { "Drafts", "\\Drafts" },
		{ "Trash", "\\Trash" },         { "Deleted Messages", "\\Trash" },
		{ "Deleted Items", "\\Trash" }, { "Junk", "\\Junk" },
		{ "Spam", "\\Junk" },           { "Archive", "\\Archive" },
		{ "Archives", "\\Archive" },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcasecmp(name, map[i].name) == 0)
			return map[i].use;
	}
	return NULL;
}

static int mailbox_folder_cmp(const void *a, const void *b)
{
	const struct mailbox_folder *x = a, *y = b;
	bool xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;
	if (xi != yi)
		return xi ? -1 : 1;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	return (int)x->noselect - (int)y->noselect; /* a real folder before a virtual one */
}

/* The order of mailbox_folder_cmp by name alone (names are unique after the merge). */
static int mailbox_folder_name_cmp(const void *a, const void *b)
{
	const struct mailbox_folder *x = a, *y = b;
	bool xi = strcmp(x->name, "INBOX") == 0, yi = strcmp(y->name, "INBOX") == 0;
	if (xi != yi)
		return xi ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void mailbox_folder_push(struct mailbox_folder **v, size_t *n, size_t *cap, char *name,
				bool noselect)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 16;
		*v = xrealloc(*v, *cap * sizeof(**v));
	}
	struct mailbox_folder *f = &(*v)[(*n)++];
	memset(f, 0, sizeof(*f));
	f->name = name;
	f->noselect = noselect;
}

long mailbox_folder_list(const char *account_dir, struct mailbox_folder **folders_r)
{
	struct mailbox_folder *v = NULL;
	size_t n = 0, cap = 0;
	*folders_r = NULL;
	mailbox_folder_push(&v, &n, &cap, xstrdup("INBOX"), false);
	DIR *d = opendir(account_dir);
	if (!d && errno != ENOENT) {
		int r = -errno;
		mailbox_folders_free(v, n);
		return r;
	}
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL && n < MAILBOX_MAX_FOLDERS) {
		char *name = mailbox_folder_from_dir(de->d_name);
		if (!name)
			continue;
		char path[PATH_MAX];
		if (snprintf(path, sizeof(path), "%s/%s/cur", account_dir, de->d_name) >=
			    (int)sizeof(path) ||
		    !mailbox_isdir(path)) {
			free(name);
			continue;
		}
		/* Every ancestor is listed; those without a directory as \Noselect. */
		for (char *s = strchr(name, '/'); s; s = strchr(s + 1, '/'))
			mailbox_folder_push(&v, &n, &cap, xstrndup(name, (size_t)(s - name)), true);
		mailbox_folder_push(&v, &n, &cap, name, false);
	}
	if (d)
		closedir(d);
	qsort(v, n, sizeof(*v), mailbox_folder_cmp);
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		if (w > 0 && strcmp(v[w - 1].name, v[i].name) == 0) {
			free(v[i].name);
			continue;
		}
		v[w++] = v[i];
	}
	n = w;
	char **subs;
	size_t nsubs = mailbox_subs_read(account_dir, &subs);
	for (size_t k = 0; k < nsubs; k++) {
		struct mailbox_folder key = { .name = subs[k] }, *f;
		f = bsearch(&key, v, n, sizeof(*v), mailbox_folder_name_cmp);
		if (f)
			f->subscribed = true;
	}
	for (size_t i = 0; i < n; i++) {
		struct mailbox_folder *f = &v[i];
		f->special_use = strchr(f->name, '/') || f->noselect ? NULL
								     : mailbox_special_use(f->name);
		/* Children follow their parent in this order unless a sibling sorts between
		 * ("A B" < "A/B"): look the parent up instead. */
		char *slash = strrchr(f->name, '/');
		if (!slash)
			continue;
		*slash = '\0';
		for (size_t k = 0; k < n; k++) {
			if (strcmp(v[k].name, f->name) == 0) {
				v[k].has_children = true;
				break;
			}
		}
		*slash = '/';
	}
	/* Subscribed names without a folder stay subscribed (RFC 3501 6.3.6: the server
	 * never removes a subscription by itself): listed as nonexistent. */
	size_t nexisting = n;
	for (size_t k = 0; k < nsubs && n < MAILBOX_MAX_FOLDERS; k++) {
		struct mailbox_folder key = { .name = subs[k] };
		if (bsearch(&key, v, nexisting, sizeof(*v), mailbox_folder_name_cmp))
			continue;
		mailbox_folder_push(&v, &n, &cap, xstrdup(subs[k]), false);
		v[n - 1].subscribed = true;
		v[n - 1].nonexistent = true;
	}
	if (n > nexisting) {
		qsort(v, n, sizeof(*v), mailbox_folder_cmp);
		w = 0; /* a name subscribed twice (a foreign file) is listed once */
		for (size_t i = 0; i < n; i++) {
			if (w > 0 && strcmp(v[w - 1].name, v[i].name) == 0) {
				free(v[i].name);
				continue;
			}
			v[w++] = v[i];
		}
		n = w;
	}
	mailbox_strv_free(subs, nsubs);
	*folders_r = v;
	return (long)n;
}

void mailbox_folders_free(struct mailbox_folder *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(f[i].name);
	free(f);
}

/* ---- CREATE, DELETE, RENAME ---- */

/* Creates one Maildir++ folder directory with its "maildirfolder" marker. */
static int mailbox_folder_mkdir(const char *path)
{
	int r = store_maildir_create(path);
	if (r < 0)
		return r;
	char marker[PATH_MAX];
	if (snprintf(marker, sizeof(marker), "%s/maildirfolder", path) >= (int)sizeof(marker))
		return -ENAMETOOLONG;
	int fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* Creates every missing ancestor folder of name ("A" and "A/B" for "A/B/C"). */
static int mailbox_folder_parents(const char *account_dir, const char *name)
{
	char *tmp = xstrdup(name), path[PATH_MAX];
	int r = 0;
	for (char *s = strchr(tmp, '/'); s && r == 0; s = strchr(s + 1, '/')) {
		*s = '\0';
		if (mailbox_folder_path(account_dir, tmp, path, sizeof(path)) < 0)
			r = -EINVAL;
		else if (!mailbox_isdir(path))
			r = mailbox_folder_mkdir(path);
		*s = '/';
	}
	free(tmp);
	return r;
}

/* Does the account have a folder directory below name ("name/...")? */
static bool mailbox_folder_has_children(const char *account_dir, const char *name)
{
	char path[PATH_MAX];
	if (mailbox_folder_path(account_dir, name, path, sizeof(path)) < 0)
		return false;
	const char *dname = strrchr(path, '/') + 1;
	size_t dlen = strlen(dname);
	DIR *d = opendir(account_dir);
	if (!d)
		return false;
	bool found = false;
	struct dirent *de;
	while (!found && (de = readdir(d)) != NULL)
		found = strncmp(de->d_name, dname, dlen) == 0 && de->d_name[dlen] == '.';
	closedir(d);
	return found;
}

int mailbox_folder_create(const char *account_dir, const char *name, char *err, size_t errlen)
{
	char path[PATH_MAX], *n = xstrdup(name);
	size_t len = strlen(n);
	int r;
	if (len > 1 && n[len - 1] == '/')
		n[len - 1] = '\0'; /* "A/" declares A as a parent: create A */
	if (mailbox_is_inbox(n)) {
		snprintf(err, errlen, "INBOX always exists");
		r = -EEXIST;
	} else if (mailbox_folder_path(account_dir, n, path, sizeof(path)) < 0) {
		snprintf(err, errlen, "invalid folder name");
		r = -EINVAL;
	} else if (mailbox_isdir(path)) {
		snprintf(err, errlen, "folder already exists");
		r = -EEXIST;
	} else if ((r = store_maildir_create(account_dir)) < 0 ||
		   (r = mailbox_folder_parents(account_dir, n)) < 0 ||
		   (r = mailbox_folder_mkdir(path)) < 0) {
		snprintf(err, errlen, "cannot create folder: %s", strerror(-r));
	}
	free(n);
	return r;
}

static int mailbox_rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p) < 0 && errno != ENOENT ? -1 : 0;
}

int mailbox_folder_delete(const char *account_dir, const char *name, char *err, size_t errlen)
{
	char path[PATH_MAX], trash[PATH_MAX];
	static unsigned counter;
	if (mailbox_is_inbox(name)) {
		snprintf(err, errlen, "INBOX cannot be deleted");
		return -EPERM;
	}
	if (mailbox_folder_path(account_dir, name, path, sizeof(path)) < 0) {
		snprintf(err, errlen, "invalid folder name");
		return -EINVAL;
	}
	if (!mailbox_isdir(path)) {
		snprintf(err, errlen, "no such folder");
		return -ENOENT;
	}
	if (mailbox_folder_has_children(account_dir, name)) {
		snprintf(err, errlen, "folder has children; delete them first");
		return -ENOTEMPTY;
	}
	/* Out of sight at once (no leading '.': never listed), then removed. */
	unsigned k = __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED);
	if (snprintf(trash, sizeof(trash), "%s/mtad-deleting.%ld.%u", account_dir, (long)getpid(),
		     k) >= (int)sizeof(trash)) {
		snprintf(err, errlen, "path too long");
		return -ENAMETOOLONG;
	}
	if (rename(path, trash) < 0) {
		int r = -errno;
		snprintf(err, errlen, "cannot delete folder: %s", strerror(errno));
		return r;
	}
	fsync_dir(account_dir);
	maildir_quota_invalidate(account_dir); /* its messages are gone: count again */
	if (nftw(trash, mailbox_rm_cb, 16, FTW_DEPTH | FTW_PHYS) != 0) {
		snprintf(err, errlen, "folder deleted, but %s remains: %s", trash, strerror(errno));
		return -errno;
	}
	return 0;
}

/* Moves every message file of INBOX into the new folder (RENAME INBOX). */
static int mailbox_move_inbox(const char *inbox, const char *dst)
{
	static const char *const sub[] = { "cur", "new" };
	int r = 0;
	for (size_t i = 0; i < 2 && r == 0; i++) {
		char dir[PATH_MAX];
		if (snprintf(dir, sizeof(dir), "%s/%s", inbox, sub[i]) >= (int)sizeof(dir))
			return -ENAMETOOLONG;
		DIR *d = opendir(dir);
		if (!d)
			return errno == ENOENT ? 0 : -errno;
		struct dirent *de;
		while (r == 0 && (de = readdir(d)) != NULL) {
			char from[PATH_MAX], to[PATH_MAX];
			if (de->d_name[0] == '.')
				continue;
			if (snprintf(from, sizeof(from), "%s/%s", dir, de->d_name) >=
				    (int)sizeof(from) ||
			    snprintf(to, sizeof(to), "%s/%s/%s", dst, sub[i], de->d_name) >=
				    (int)sizeof(to)) {
				r = -ENAMETOOLONG;
				break;
			}
			if (rename(from, to) < 0 && errno != ENOENT)
				r = -errno;
		}
		closedir(d);
	}
	return r;
}

int mailbox_folder_rename(const char *account_dir, const char *from, const char *to, char *err,
			  size_t errlen)
{
	char fpath[PATH_MAX], tpath[PATH_MAX];
	int r;
	if (mailbox_folder_path(account_dir, from, fpath, sizeof(fpath)) < 0 ||
	    mailbox_folder_path(account_dir, to, tpath, sizeof(tpath)) < 0) {
		snprintf(err, errlen, "invalid folder name");
		return -EINVAL;
	}
	if (mailbox_is_inbox(to) || mailbox_isdir(tpath) ||
	    mailbox_folder_has_children(account_dir, to)) {
		snprintf(err, errlen, "target folder already exists");
		return -EEXIST;
	}
	if (mailbox_is_inbox(from)) {
		/* RFC 3501: INBOX's messages move to the new folder; INBOX stays, empty, and
		 * its children stay where they are. */
		if ((r = store_maildir_create(account_dir)) < 0 ||
		    (r = mailbox_folder_parents(account_dir, to)) < 0 ||
		    (r = mailbox_folder_mkdir(tpath)) < 0) {
			snprintf(err, errlen, "cannot create folder: %s", strerror(-r));
			return r;
		}
		int lock = mailbox_lock(account_dir);
		if (lock < 0) {
			snprintf(err, errlen, "cannot lock INBOX: %s", strerror(-lock));
			return lock;
		}
		r = mailbox_move_inbox(account_dir, tpath);
		mailbox_unlock(lock);
		if (r < 0) {
			snprintf(err, errlen, "cannot move messages: %s", strerror(-r));
			return r;
		}
		struct mailbox_status st;
		mailbox_status(tpath, false, &st); /* index the moved messages now */
		mailbox_status(account_dir, false, &st);
		return 0;
	}
	size_t flen = strlen(from);
	if (strncmp(to, from, flen) == 0 && to[flen] == '/') {
		snprintf(err, errlen, "cannot move a folder into itself");
		return -EINVAL;
	}
	if (!mailbox_isdir(fpath) && !mailbox_folder_has_children(account_dir, from)) {
		snprintf(err, errlen, "no such folder");
		return -ENOENT;
	}
	if ((r = mailbox_folder_parents(account_dir, to)) < 0) {
		snprintf(err, errlen, "cannot create parent folders: %s", strerror(-r));
		return r;
	}
	/* The folder, then each child ".from.X" -> ".to.X". */
	const char *fd_name = strrchr(fpath, '/') + 1, *td_name = strrchr(tpath, '/') + 1;
	size_t fdlen = strlen(fd_name);
	if (mailbox_isdir(fpath) && rename(fpath, tpath) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot rename: %s", strerror(errno));
		return r;
	}
	DIR *d = opendir(account_dir);
	if (!d) {
		r = -errno;
		snprintf(err, errlen, "cannot read %s: %s", account_dir, strerror(errno));
		return r;
	}
	char **kids = NULL;
	size_t nkids = 0, cap = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, fd_name, fdlen) != 0 || de->d_name[fdlen] != '.')
			continue;
		if (nkids == cap) {
			cap = cap ? cap * 2 : 8;
			kids = xrealloc(kids, cap * sizeof(*kids));
		}
		kids[nkids++] = xstrdup(de->d_name);
	}
	closedir(d);
	r = 0;
	for (size_t i = 0; i < nkids; i++) {
		char a[PATH_MAX], b[PATH_MAX];
		if (snprintf(a, sizeof(a), "%s/%s", account_dir, kids[i]) >= (int)sizeof(a) ||
		    snprintf(b, sizeof(b), "%s/%s%s", account_dir, td_name, kids[i] + fdlen) >=
			    (int)sizeof(b) ||
		    strlen(td_name) + strlen(kids[i] + fdlen) > NAME_MAX) {
			r = -ENAMETOOLONG;
		} else if (rename(a, b) < 0 && r == 0) {
			r = -errno;
		}
	}
	mailbox_strv_free(kids, nkids);
	fsync_dir(account_dir);
	mailbox_subs_change(account_dir, NULL, from, true, to);
	if (r < 0)
		snprintf(err, errlen, "cannot rename a child folder: %s", strerror(-r));
	return r;
}

int mailbox_create_special(const char *account_dir)
{
	static const char *const names[] = { "Sent", "Drafts", "Trash", "Junk", "Archive" };
	char path[PATH_MAX];
	int r = store_maildir_create(account_dir);
	if (r < 0)
		return r;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (mailbox_folder_path(account_dir, names[i], path, sizeof(path)) < 0)
			return -EINVAL;
		if (mailbox_isdir(path))
			continue;
		if ((r = mailbox_folder_mkdir(path)) < 0 ||
		    (r = mailbox_subscribe(account_dir, names[i], true)) < 0)
			return r;
	}
	return 0;
}
