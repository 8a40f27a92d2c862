/* table_file.c - reads a whole table file (users_file, aliases_file) into memory with a size limit. */
#include "table_file.h"

#include "xalloc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool table_next_line(const char *text, size_t len, size_t *pos, const char **line_r, size_t *len_r)
{
	if (*pos >= len)
		return false;
	const char *line = text + *pos;
	const char *nl = memchr(line, '\n', len - *pos);
	size_t l = nl ? (size_t)(nl - line) : len - *pos;
	*pos += l + (nl ? 1 : 0);
	*line_r = line;
	*len_r = l;
	return true;
}

char *table_file_read(const char *path, off_t max_size, bool regular_only, const char *size_error,
		      size_t *len_r, struct stat *st_r, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s:0: %s", path, strerror(e));
		errno = e;
		return NULL;
	}
	if (fstat(fileno(f), st_r) < 0 || (regular_only && !S_ISREG(st_r->st_mode)) ||
	    st_r->st_size > max_size) {
		snprintf(err, errlen, "%s:0: %s", path, size_error);
		fclose(f);
		errno = EINVAL;
		return NULL;
	}
	char *text = xmalloc((size_t)st_r->st_size + 1);
	size_t n = fread(text, 1, (size_t)st_r->st_size, f);
	int rerr = ferror(f);
	fclose(f);
	if (rerr) {
		snprintf(err, errlen, "%s:0: read error", path);
		free(text);
		errno = EIO;
		return NULL;
	}
	text[n] = '\0';
	*len_r = n;
	return text;
}
