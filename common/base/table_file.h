/* table_file.h - reads a whole table file (users_file, aliases_file) into memory with a size limit, for the parsers and their reload checks. */
#ifndef MAIL_TABLE_FILE_H
#define MAIL_TABLE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

/* Reads path whole. Refuses a file over max_size bytes, or (regular_only) anything but a
 * regular file, with err "PATH:0: size_error". Returns the text, NUL-terminated (free it), with
 * *len_r and the file's *st_r (mtime, size, inode for the reload checks); or NULL with err set
 * to "PATH:0: reason" and errno kept from a failed open (ENOENT: the file is missing). */
char *table_file_read(const char *path, off_t max_size, bool regular_only, const char *size_error,
		      size_t *len_r, struct stat *st_r, char *err, size_t errlen);

/* Steps through text[0..len) a line at a time from *pos: sets *line_r and *len_r (without the
 * LF) and moves *pos past the LF. Returns false at the end. */
bool table_next_line(const char *text, size_t len, size_t *pos, const char **line_r, size_t *len_r);

#endif
