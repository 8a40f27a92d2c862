/* fetch_parse.c - FETCH attribute atoms (macros, BODY[section]<partial>, BINARY) and modifiers into fetch_items. */
#include "fetch_parse.h"
#include "xalloc.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct fetch_simple {
	const char *name;
	enum fetch_item_type type;
};

static const struct fetch_simple fetch_simple_items[] = {
	{ "FLAGS", FETCH_FLAGS },
	{ "INTERNALDATE", FETCH_INTERNALDATE },
	{ "RFC822.SIZE", FETCH_RFC822_SIZE },
	{ "ENVELOPE", FETCH_ENVELOPE },
	{ "BODY", FETCH_BODY },
	{ "BODYSTRUCTURE", FETCH_BODYSTRUCTURE },
	{ "UID", FETCH_UID },
	{ "MODSEQ", FETCH_MODSEQ },
	{ "RFC822", FETCH_RFC822 },
	{ "RFC822.HEADER", FETCH_RFC822_HEADER },
	{ "RFC822.TEXT", FETCH_RFC822_TEXT },
};

/* A cursor over the text of one attribute atom. */
struct fetch_cur {
	const char *s;
	size_t len, pos;
};

static void fetch_item_free(struct fetch_item *it)
{
	for (unsigned i = 0; i < it->section.field_count; i++)
		free(it->section.fields[i]);
	free(it->section.fields);
	free(it->name);
}

void fetch_request_free(struct fetch_request *req)
{
	for (unsigned i = 0; i < req->count; i++)
		fetch_item_free(&req->items[i]);
	free(req->items);
	memset(req, 0, sizeof(*req));
}

static bool fetch_cur_word(struct fetch_cur *c, const char *word)
{
	size_t n = strlen(word);
	if (c->len - c->pos < n || strncasecmp(c->s + c->pos, word, n) != 0)
		return false;
	c->pos += n;
	return true;
}

static bool fetch_cur_char(struct fetch_cur *c, char ch)
{
	if (c->pos >= c->len || c->s[c->pos] != ch)
		return false;
	c->pos++;
	return true;
}

/* number (nonzero when nz) up to 4294967295. */
static bool fetch_cur_number(struct fetch_cur *c, bool nz, uint32_t *n_r)
{
	size_t start = c->pos;
	uint64_t n = 0;
	while (c->pos < c->len && c->s[c->pos] >= '0' && c->s[c->pos] <= '9') {
		n = n * 10 + (uint64_t)(c->s[c->pos] - '0');
		if (n > UINT32_MAX)
			return false;
		c->pos++;
	}
	if (c->pos == start || (nz && n == 0))
		return false;
	*n_r = (uint32_t)n;
	return true;
}

static bool fetch_is_ftext(unsigned char ch)
{
	return ch > 0x20 && ch < 0x7f && ch != ':';
}

/* One header-fld-name: an atom or a quoted string, upper-cased. */
static const char *fetch_parse_field(struct fetch_cur *c, struct fetch_section *sec)
{
	char *name = xmalloc(c->len - c->pos + 1);
	size_t n = 0;
	if (fetch_cur_char(c, '"')) {
		for (;;) {
			if (c->pos >= c->len) {
				free(name);
				return "Unterminated header field name";
			}
			char ch = c->s[c->pos++];
			if (ch == '"')
				break;
			if (ch == '\\' && c->pos < c->len)
				ch = c->s[c->pos++];
			name[n++] = ch;
		}
	} else {
		while (c->pos < c->len && c->s[c->pos] != ' ' && c->s[c->pos] != ')')
			name[n++] = c->s[c->pos++];
	}
	name[n] = '\0';
	if (n == 0) {
		free(name);
		return "Empty header field name";
	}
	for (size_t i = 0; i < n; i++) {
		if (!fetch_is_ftext((unsigned char)name[i])) {
			free(name);
			return "Invalid header field name";
		}
		name[i] = (char)toupper((unsigned char)name[i]);
	}
	unsigned count = sec->field_count;
	if ((count & (count - 1)) == 0) /* 0, 1, 2, 4, ...: capacity doubles */
		sec->fields = xrealloc(sec->fields, (count ? count * 2 : 1) * sizeof(*sec->fields));
	sec->fields[sec->field_count++] = name;
	return NULL;
}

/* " (NAME NAME ...)" after HEADER.FIELDS[.NOT]. */
static const char *fetch_parse_fields(struct fetch_cur *c, struct fetch_section *sec)
{
	if (!fetch_cur_char(c, ' ') || !fetch_cur_char(c, '('))
		return "HEADER.FIELDS needs a list of field names";
	for (;;) {
		const char *error = fetch_parse_field(c, sec);
		if (error != NULL)
			return error;
		if (fetch_cur_char(c, ')'))
			return NULL;
		if (!fetch_cur_char(c, ' '))
			return "Invalid header field list";
	}
}

/* The section spec between '[' and ']' (cursor after '['). binary: part numbers only. */
static const char *fetch_parse_section(struct fetch_cur *c, bool binary, struct fetch_section *sec)
{
	if (fetch_cur_char(c, ']'))
		return NULL;
	while (c->pos < c->len && c->s[c->pos] >= '0' && c->s[c->pos] <= '9') {
		uint32_t n;
		if (!fetch_cur_number(c, true, &n))
			return "Invalid section part number";
		if (sec->part_count == FETCH_MAX_PARTS)
			return "Too many section part numbers";
		sec->parts[sec->part_count++] = n;
		if (fetch_cur_char(c, ']'))
			return NULL;
		if (!fetch_cur_char(c, '.'))
			return "Invalid section";
	}
	if (binary)
		return "BINARY takes part numbers only";
	if (fetch_cur_word(c, "HEADER.FIELDS.NOT"))
		sec->text = FETCH_SECTION_HEADER_FIELDS_NOT;
	else if (fetch_cur_word(c, "HEADER.FIELDS"))
		sec->text = FETCH_SECTION_HEADER_FIELDS;
	else if (fetch_cur_word(c, "HEADER"))
		sec->text = FETCH_SECTION_HEADER;
	else if (fetch_cur_word(c, "TEXT"))
		sec->text = FETCH_SECTION_TEXT;
	else if (fetch_cur_word(c, "MIME"))
		sec->text = FETCH_SECTION_MIME;
	else
		return "Invalid section";
	if (sec->text == FETCH_SECTION_MIME && sec->part_count == 0)
		return "MIME needs a part number";
	if (sec->text == FETCH_SECTION_HEADER_FIELDS ||
	    sec->text == FETCH_SECTION_HEADER_FIELDS_NOT) {
		const char *error = fetch_parse_fields(c, sec);
		if (error != NULL)
			return error;
	}
	if (!fetch_cur_char(c, ']'))
		return "Invalid section";
	return NULL;
}

static void fetch_write_section(struct buf *b, const struct fetch_section *sec)
{
	static const char *const texts[] = {
		"", "HEADER", "HEADER.FIELDS", "HEADER.FIELDS.NOT", "TEXT", "MIME",
	};
	buf_append(b, "[", 1);
	for (unsigned i = 0; i < sec->part_count; i++)
		buf_printf(b, "%s%u", i > 0 ? "." : "", sec->parts[i]);
	if (sec->text != FETCH_SECTION_WHOLE) {
		if (sec->part_count > 0)
			buf_append(b, ".", 1);
		buf_append_str(b, texts[sec->text]);
	}
	if (sec->field_count > 0) {
		buf_append(b, " (", 2);
		for (unsigned i = 0; i < sec->field_count; i++) {
			if (i > 0)
				buf_append(b, " ", 1);
			imap_write_astring(b, sec->fields[i], strlen(sec->fields[i]));
		}
		buf_append(b, ")", 1);
	}
	buf_append(b, "]", 1);
}

/* BODY[...], BODY.PEEK[...], BINARY[...], BINARY.PEEK[...], BINARY.SIZE[...]. */
static const char *fetch_parse_sectioned(const char *s, size_t len, struct fetch_item *it)
{
	struct fetch_cur c = { .s = s, .len = len, .pos = 0 };
	bool binary = false;
	if (fetch_cur_word(&c, "BODY.PEEK[")) {
		it->type = FETCH_BODY_SECTION;
		it->peek = true;
	} else if (fetch_cur_word(&c, "BODY[")) {
		it->type = FETCH_BODY_SECTION;
	} else if (fetch_cur_word(&c, "BINARY.PEEK[")) {
		it->type = FETCH_BINARY;
		it->peek = binary = true;
	} else if (fetch_cur_word(&c, "BINARY.SIZE[")) {
		it->type = FETCH_BINARY_SIZE;
		binary = true;
	} else if (fetch_cur_word(&c, "BINARY[")) {
		it->type = FETCH_BINARY;
		binary = true;
	} else {
		return "Unknown FETCH attribute";
	}
	const char *error = fetch_parse_section(&c, binary, &it->section);
	if (error != NULL)
		return error;
	if (fetch_cur_char(&c, '<')) {
		if (it->type == FETCH_BINARY_SIZE)
			return "BINARY.SIZE takes no partial range";
		if (!fetch_cur_number(&c, false, &it->origin) || !fetch_cur_char(&c, '.') ||
		    !fetch_cur_number(&c, true, &it->count) || !fetch_cur_char(&c, '>'))
			return "Invalid partial range (want <origin.count>)";
		it->partial = true;
	}
	if (c.pos != c.len)
		return "Unexpected text after section";

	struct buf b;
	buf_init(&b);
	buf_append_str(&b, it->type == FETCH_BODY_SECTION ? "BODY"
			   : it->type == FETCH_BINARY     ? "BINARY"
							  : "BINARY.SIZE");
	fetch_write_section(&b, &it->section);
	if (it->partial)
		buf_printf(&b, "<%u>", it->origin);
	it->name = buf_steal(&b, NULL);
	return NULL;
}

static const char *fetch_parse_att(const struct imap_arg *a, struct fetch_item *it)
{
	memset(it, 0, sizeof(*it));
	if (a->type != IMAP_ARG_ATOM)
		return "Invalid FETCH attribute";
	if (strchr(a->str, '[') != NULL)
		return fetch_parse_sectioned(a->str, a->len, it);
	for (size_t i = 0; i < sizeof(fetch_simple_items) / sizeof(fetch_simple_items[0]); i++) {
		if (strcasecmp(a->str, fetch_simple_items[i].name) == 0) {
			it->type = fetch_simple_items[i].type;
			it->name = xstrdup(fetch_simple_items[i].name);
			return NULL;
		}
	}
	return "Unknown FETCH attribute";
}

/* Adds it (taking its allocations) unless an item of the same name is there; a
 * non-PEEK duplicate clears the PEEK of the one kept. */
static void fetch_add_item(struct fetch_request *req, struct fetch_item *it)
{
	for (unsigned i = 0; i < req->count; i++) {
		if (strcmp(req->items[i].name, it->name) == 0) {
			if (!it->peek)
				req->items[i].peek = false;
			fetch_item_free(it);
			return;
		}
	}
	req->items = xrealloc(req->items, (req->count + 1) * sizeof(*req->items));
	req->items[req->count++] = *it;
}

static void fetch_add_simple(struct fetch_request *req, enum fetch_item_type type, const char *name,
			     bool front)
{
	for (unsigned i = 0; i < req->count; i++) {
		if (req->items[i].type == type)
			return;
	}
	struct fetch_item it;
	memset(&it, 0, sizeof(it));
	it.type = type;
	it.name = xstrdup(name);
	req->items = xrealloc(req->items, (req->count + 1) * sizeof(*req->items));
	if (front) {
		memmove(&req->items[1], &req->items[0], req->count * sizeof(*req->items));
		req->items[0] = it;
	} else {
		req->items[req->count] = it;
	}
	req->count++;
}

static const char *fetch_parse_macro(const struct imap_arg *a, struct fetch_request *req)
{
	static const char *const names[] = { "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE",
					     "BODY" };
	static const enum fetch_item_type types[] = {
		FETCH_FLAGS, FETCH_INTERNALDATE, FETCH_RFC822_SIZE, FETCH_ENVELOPE, FETCH_BODY,
	};
	unsigned n;
	if (imap_arg_atom_equals(a, "FAST"))
		n = 3;
	else if (imap_arg_atom_equals(a, "ALL"))
		n = 4;
	else if (imap_arg_atom_equals(a, "FULL"))
		n = 5;
	else
		return "Unknown FETCH attribute";
	for (unsigned i = 0; i < n; i++)
		fetch_add_simple(req, types[i], names[i], false);
	return NULL;
}

static const char *fetch_parse_modifiers(const struct imap_arg *a, unsigned flags,
					 struct fetch_request *req)
{
	const struct imap_arg *mods;
	unsigned n;
	if (!imap_arg_list(a, &mods, &n) || n == 0)
		return "FETCH modifiers must be a non-empty list";
	for (unsigned i = 0; i < n; i++) {
		if (imap_arg_atom_equals(&mods[i], "CHANGEDSINCE")) {
			if (req->has_changedsince)
				return "CHANGEDSINCE given twice";
			if (i + 1 >= n || !imap_arg_number64(&mods[i + 1], &req->changedsince) ||
			    req->changedsince == 0)
				return "CHANGEDSINCE needs a mod-sequence value";
			req->has_changedsince = true;
			i++;
		} else if (imap_arg_atom_equals(&mods[i], "VANISHED")) {
			if (req->vanished)
				return "VANISHED given twice";
			if (!(flags & FETCH_PARSE_UID))
				return "VANISHED is allowed only in UID FETCH";
			req->vanished = true;
		} else {
			return "Unknown FETCH modifier";
		}
	}
	if (req->vanished && !req->has_changedsince)
		return "VANISHED needs CHANGEDSINCE";
	return NULL;
}

int fetch_parse(const struct imap_arg *args, unsigned count, unsigned flags,
		struct fetch_request *req_r, struct fetch_error *err_r)
{
	const char *error = NULL;
	const struct imap_arg *list;
	unsigned n;

	memset(req_r, 0, sizeof(*req_r));
	if (count == 0) {
		error = "Missing FETCH attributes";
	} else if (count > 2) {
		error = "Unexpected argument after FETCH modifiers";
	} else if (imap_arg_list(&args[0], &list, &n)) {
		if (n == 0)
			error = "Empty FETCH attribute list";
		else if (n > FETCH_MAX_ITEMS)
			error = "Too many FETCH attributes";
		for (unsigned i = 0; i < n && error == NULL; i++) {
			struct fetch_item it;
			error = fetch_parse_att(&list[i], &it);
			if (error != NULL)
				fetch_item_free(&it);
			else
				fetch_add_item(req_r, &it);
		}
	} else if (imap_arg_atom_equals(&args[0], "ALL") ||
		   imap_arg_atom_equals(&args[0], "FAST") ||
		   imap_arg_atom_equals(&args[0], "FULL")) {
		error = fetch_parse_macro(&args[0], req_r);
	} else {
		struct fetch_item it;
		error = fetch_parse_att(&args[0], &it);
		if (error != NULL)
			fetch_item_free(&it);
		else
			fetch_add_item(req_r, &it);
	}
	if (error == NULL && count == 2)
		error = fetch_parse_modifiers(&args[1], flags, req_r);
	if (error != NULL) {
		fetch_request_free(req_r);
		err_r->text = error;
		return -1;
	}
	if (flags & FETCH_PARSE_UID)
		fetch_add_simple(req_r, FETCH_UID, "UID", true);
	if (req_r->has_changedsince)
		fetch_add_simple(req_r, FETCH_MODSEQ, "MODSEQ", false);
	for (unsigned i = 0; i < req_r->count; i++) {
		const struct fetch_item *it = &req_r->items[i];
		if (it->type == FETCH_RFC822 || it->type == FETCH_RFC822_TEXT ||
		    ((it->type == FETCH_BODY_SECTION || it->type == FETCH_BINARY) && !it->peek))
			req_r->sets_seen = true;
		if (it->type == FETCH_RFC822_SIZE)
			req_r->wants_size = true;
	}
	return 0;
}
