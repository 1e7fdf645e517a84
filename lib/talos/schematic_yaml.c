/* The go-yaml v3 marshalling model of schematic IDs (see lib/talos/schematic_yaml.h).
 *
 * References (read, not copied): gopkg.in/yaml.v3 resolve.go (scalar resolution),
 * encode.go (stringv/floatv: which style a string asks for), sorter.go (map key order),
 * emitterc.go (yaml_emitter_analyze_scalar, select_scalar_style, increase_indent with
 * the "[Go] more regular" indentation, the literal/quoted writers); YAML 1.2 §5–§8. */
#include "schematic_yaml.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define BEST_INDENT 4

void sv_free(struct sv *v)
{
	if (!v)
		return;
	free(v->s);
	size_t n = v->kind == SV_MAP ? 2 * v->n : v->kind == SV_SEQ ? v->n : 0;
	for (size_t i = 0; i < n; i++)
		sv_free(&v->items[i]);
	free(v->items);
	memset(v, 0, sizeof(*v));
}

/* --- resolve.go ------------------------------------------------------------------------ */

static bool in_list(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

/* strconv.ParseInt/ParseUint(s, 0, 64) on s without underscores (resolve.go removes them):
 * optional sign (signed only), 0x/0o/0b prefixes, a leading 0 means octal. */
static bool go_parse_int(const char *s, bool is_signed, int64_t *iv, uint64_t *uv)
{
	bool neg = false;
	const char *p = s;
	if (is_signed && (*p == '+' || *p == '-'))
		neg = *p++ == '-';
	int base = 10;
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		base = 16, p += 2;
	else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
		base = 8, p += 2;
	else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
		base = 2, p += 2;
	else if (p[0] == '0' && p[1])
		base = 8, p += 1;
	if (!*p)
		return false;
	uint64_t acc = 0;
	for (; *p; p++) {
		int d = isdigit((unsigned char)*p)    ? *p - '0'
			: isxdigit((unsigned char)*p) ? tolower((unsigned char)*p) - 'a' + 10
						      : 99;
		if (d >= base || acc > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return false;
		acc = acc * (uint64_t)base + (uint64_t)d;
	}
	if (!is_signed) {
		*uv = acc;
		return true;
	}
	if (acc > (uint64_t)INT64_MAX + (neg ? 1 : 0))
		return false;
	*iv = neg ? (int64_t)(0 - acc) : (int64_t)acc;
	return true;
}

/* resolve.go yamlStyleFloat: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ */
static bool yaml_style_float(const char *s)
{
	const char *p = s + (*s == '+' || *s == '-');
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
	} else {
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
		if (*p == '.')
			for (p++; isdigit((unsigned char)*p); p++)
				;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		p += *p == '+' || *p == '-';
		if (!isdigit((unsigned char)*p))
			return false;
		while (isdigit((unsigned char)*p))
			p++;
	}
	return !*p;
}

/* 1 or 2 digits in [lo, hi] (Go time.Parse's "1", "2", "15", "4", "5" fields). */
static bool num12(const char **p, int lo, int hi, int *out)
{
	if (!isdigit((unsigned char)**p))
		return false;
	int v = *(*p)++ - '0';
	if (isdigit((unsigned char)**p))
		v = v * 10 + (*(*p)++ - '0');
	*out = v;
	return v >= lo && v <= hi;
}

/* resolve.go parseTimestamp: time.Parse with "2006-1-2T15:4:5.999999999Z07:00" (T or t),
 * "2006-1-2 15:4:5.999999999" or "2006-1-2" (day checked against the month). On success
 * `rfc` (48 bytes) gets time.Time's RFC3339Nano form, as v3 writes the decoded value. */
static bool parse_timestamp(const char *s, char *rfc)
{
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	for (int i = 0; i < 4; i++)
		if (!isdigit((unsigned char)s[i]))
			return false;
	if (s[4] != '-')
		return false;
	const char *p = s + 5, *frac = "";
	int y = atoi(s), m, d, h = 0, mi = 0, sec = 0, nfrac = 0, off = 0;
	if (!num12(&p, 1, 12, &m) || *p++ != '-' || !num12(&p, 1, mdays[m - 1], &d))
		return false;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100) || y % 400 == 0))
		return false;
	char sep = *p;
	if (sep) {
		p++;
		if (sep != 'T' && sep != 't' && sep != ' ')
			return false;
		if (!num12(&p, 0, 23, &h) || *p++ != ':' || !num12(&p, 0, 59, &mi) || *p++ != ':' ||
		    !num12(&p, 0, 59, &sec))
			return false;
		if (*p == '.' && isdigit((unsigned char)p[1]))
			for (frac = ++p; isdigit((unsigned char)*p); p++)
				nfrac++;
		if (sep != ' ') {
			if (*p == 'Z') {
				p++;
			} else if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) &&
				   isdigit((unsigned char)p[2]) && p[3] == ':' &&
				   isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5])) {
				off = ((p[1] - '0') * 10 + p[2] - '0') * 60 + (p[4] - '0') * 10 +
				      p[5] - '0';
				off = *p == '-' ? -off : off;
				p += 6;
			} else {
				return false;
			}
		}
		if (*p)
			return false;
	}
	if (!rfc)
		return true;
	if (nfrac > 9)
		nfrac = 9;
	while (nfrac > 0 && frac[nfrac - 1] == '0')
		nfrac--;
	int n = snprintf(rfc, 48, "%04d-%02d-%02dT%02d:%02d:%02d", y, m, d, h, mi, sec);
	if (nfrac)
		n += snprintf(rfc + n, 48 - n, ".%.*s", nfrac, frac);
	if (off)
		snprintf(rfc + n, 48 - n, "%c%02d:%02d", off < 0 ? '-' : '+', abs(off) / 60,
			 abs(off) % 60);
	else
		snprintf(rfc + n, 48 - n, "Z");
	return true;
}

static enum sv_kind resolve_number(const char *s, struct sv *v)
{
	if (isdigit((unsigned char)s[0]) && parse_timestamp(s, v->ts))
		return SV_TIME;
	char *plain = strdup(s);
	if (!plain)
		return SV_STR;
	char *w = plain;
	for (const char *r = s; *r; r++)
		if (*r != '_')
			*w++ = *r;
	*w = 0;
	enum sv_kind k = SV_STR;
	if (go_parse_int(plain, true, &v->i, &v->u))
		k = SV_INT;
	else if (go_parse_int(plain, false, &v->i, &v->u))
		k = SV_UINT;
	else if (yaml_style_float(plain)) {
		errno = 0;
		v->f = strtod(plain, NULL);
		k = errno == ERANGE && isinf(v->f) ? SV_STR : SV_FLOAT;
	}
	free(plain);
	return k;
}

enum sv_kind sv_resolve_plain(const char *s, struct sv *v)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL", NULL};
	static const char *const trues[] = {"true", "True", "TRUE", NULL};
	static const char *const falses[] = {"false", "False", "FALSE", NULL};
	static const char *const infs[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL};
	static const char *const ninfs[] = {"-.inf", "-.Inf", "-.INF", NULL};
	static const char *const nans[] = {".nan", ".NaN", ".NAN", NULL};
	struct sv tmp;
	if (!v)
		v = &tmp;
	if (in_list(s, nulls))
		return SV_NULL;
	if (in_list(s, trues) || in_list(s, falses)) {
		v->b = s[0] == 't' || s[0] == 'T';
		return SV_BOOL;
	}
	if (in_list(s, infs) || in_list(s, ninfs) || in_list(s, nans)) {
		v->f = in_list(s, nans) ? NAN : in_list(s, ninfs) ? -INFINITY : INFINITY;
		return SV_FLOAT;
	}
	if (s[0] == '.') { /* strconv.ParseFloat: ".5", ".5e3" */
		if (yaml_style_float(s)) {
			v->f = strtod(s, NULL);
			return SV_FLOAT;
		}
		return SV_STR;
	}
	if (isdigit((unsigned char)s[0]) || s[0] == '+' || s[0] == '-')
		return resolve_number(s, v);
	return SV_STR;
}

/* --- sorter.go ------------------------------------------------------------------------- */

/* UTF-8 to code points (invalid bytes stand for themselves); returns the count. */
static size_t runes(const char *str, uint32_t *out)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = 0;
	for (size_t i = 0; s[i]; n++) {
		size_t w = (s[i] & 0x80) == 0	   ? 1
			   : (s[i] & 0xe0) == 0xc0 ? 2
			   : (s[i] & 0xf0) == 0xe0 ? 3
						   : 4;
		uint32_t cp = s[i] & (w == 1 ? 0x7f : w == 2 ? 0x1f : w == 3 ? 0x0f : 0x07);
		size_t k = 1;
		for (; k < w && (s[i + k] & 0xc0) == 0x80; k++)
			cp = cp << 6 | (s[i + k] & 0x3f);
		out[n] = k == w ? cp : s[i];
		i += k == w ? w : 1;
	}
	return n;
}

/* unicode.IsLetter, approximated without Unicode tables: ASCII letters, and every other
 * rune outside the blocks of marks, punctuation, symbols, digits and controls (so most
 * scripts' letters count, as in Go). Only the order of non-ASCII overlay option keys
 * depends on it. */
static bool rune_letter(uint32_t c)
{
	static const uint32_t non_letters[][2] = {
	    {0x80, 0xa9},	{0xab, 0xb4},	    {0xb6, 0xb9},	 {0xbb, 0xbf},
	    {0xd7, 0xd7},	{0xf7, 0xf7},	    {0x2c2, 0x2c5},	 {0x2d2, 0x2df},
	    {0x2e5, 0x2eb},	{0x2ed, 0x2ed},	    {0x2ef, 0x36f},	 {0x375, 0x375},
	    {0x37e, 0x37e},	{0x384, 0x385},	    {0x387, 0x387},	 {0x3f6, 0x3f6},
	    {0x482, 0x489},	{0x55a, 0x55f},	    {0x589, 0x5cf},	 {0x5f3, 0x61f},
	    {0x64b, 0x66d},	{0x670, 0x670},	    {0x6d4, 0x6d4},	 {0x6d6, 0x6e4},
	    {0x6e7, 0x6ed},	{0x6f0, 0x6f9},	    {0x6fd, 0x70f},	 {0x711, 0x711},
	    {0x730, 0x74c},	{0x7a6, 0x7b0},	    {0x7c0, 0x7c9},	 {0x7eb, 0x7f3},
	    {0x7f6, 0x7f9},	{0x900, 0x903},	    {0x93a, 0x93c},	 {0x93e, 0x94f},
	    {0x951, 0x957},	{0x962, 0x970},	    {0x1ab0, 0x1aff},	 {0x1dc0, 0x1dff},
	    {0x2000, 0x2070},	{0x2072, 0x207e},   {0x2080, 0x208f},	 {0x20a0, 0x2101},
	    {0x2103, 0x2106},	{0x2108, 0x2109},   {0x2114, 0x2114},	 {0x2116, 0x2118},
	    {0x211e, 0x2123},	{0x2125, 0x2125},   {0x2127, 0x2127},	 {0x2129, 0x2129},
	    {0x212e, 0x212e},	{0x213a, 0x213b},   {0x2140, 0x2144},	 {0x214a, 0x214d},
	    {0x214f, 0x2182},	{0x2185, 0x2bff},   {0x2ce5, 0x2cea},	 {0x2cef, 0x2cf1},
	    {0x2cf9, 0x2cff},	{0x2de0, 0x2e2e},   {0x2e30, 0x3004},	 {0x3007, 0x3030},
	    {0x3036, 0x303a},	{0x303d, 0x3040},   {0x3099, 0x309c},	 {0x30a0, 0x30a0},
	    {0x30fb, 0x30fb},	{0x3190, 0x319f},   {0x31c0, 0x31ef},	 {0x3200, 0x33ff},
	    {0x4dc0, 0x4dff},	{0xd800, 0xf8ff},   {0xfd3e, 0xfd4f},	 {0xfdfc, 0xfe6f},
	    {0xfeff, 0xff20},	{0xff3b, 0xff40},   {0xff5b, 0xff65},	 {0xffe0, 0xffff},
	    {0x1d000, 0x1d3ff}, {0x1f000, 0x1faff}, {0xe0000, 0x10ffff},
	};
	if (c < 0x80)
		return isalpha((int)c);
	for (size_t i = 0; i < sizeof(non_letters) / sizeof(non_letters[0]); i++)
		if (c >= non_letters[i][0] && c <= non_letters[i][1])
			return false;
	return true;
}

static bool rune_digit(uint32_t c)
{
	return c >= '0' && c <= '9';
}

static int key_cmp_runes(const uint32_t *a, size_t la, const uint32_t *b, size_t lb)
{
	bool digits = false;
	for (size_t i = 0; i < la && i < lb; i++) {
		if (a[i] == b[i]) {
			digits = rune_digit(a[i]);
			continue;
		}
		bool al = rune_letter(a[i]), bl = rune_letter(b[i]);
		if (al && bl)
			return a[i] < b[i] ? -1 : 1;
		if (al || bl) /* after a digit letters come first, elsewhere last */
			return digits ? (al ? -1 : 1) : (bl ? -1 : 1);
		uint64_t an = 0, bn = 0; /* Go's int64 wraps on overflow: same order as here */
		if (a[i] == '0' || b[i] == '0')
			for (size_t j = i; j-- > 0 && rune_digit(a[j]);)
				if (a[j] != '0') {
					an = bn = 1;
					break;
				}
		size_t ai = i, bi = i;
		for (; ai < la && rune_digit(a[ai]); ai++)
			an = an * 10 + (a[ai] - '0');
		for (; bi < lb && rune_digit(b[bi]); bi++)
			bn = bn * 10 + (b[bi] - '0');
		if (an != bn)
			return (int64_t)an < (int64_t)bn ? -1 : 1;
		if (ai != bi)
			return ai < bi ? -1 : 1;
		return a[i] < b[i] ? -1 : 1;
	}
	return la < lb ? -1 : la > lb ? 1 : 0;
}

int sv_key_cmp(const char *a, const char *b)
{
	uint32_t *ra = malloc((strlen(a) + 1) * sizeof(*ra));
	uint32_t *rb = malloc((strlen(b) + 1) * sizeof(*rb));
	int r = ra && rb ? key_cmp_runes(ra, runes(a, ra), rb, runes(b, rb)) : strcmp(a, b);
	free(ra);
	free(rb);
	return r;
}

/* --- the emitter ----------------------------------------------------------------------- */

/* yaml_emitter_analyze_scalar's verdicts, for one string in block context (the flow
 * indicators , [ ] { } only matter inside flow collections, which v3 never writes). */
struct analysis {
	bool plain_ok;	/* block_plain_allowed */
	bool single_ok; /* single_quoted_allowed */
	bool block_ok;	/* block_allowed (literal style) */
	bool multiline; /* has line breaks: cannot be a simple key */
};

/* libyaml is_printable on UTF-8 (tab, CR and other controls are not; nor BOM, nor
 * 4-byte sequences, as in the emitter's table). */
static bool printable(const unsigned char *s)
{
	unsigned char c = s[0];
	return c == 0x0a || (c >= 0x20 && c <= 0x7e) || (c == 0xc2 && s[1] >= 0xa0) ||
	       (c > 0xc2 && c < 0xed) || (c == 0xed && s[1] < 0xa0) || c == 0xee ||
	       (c == 0xef && !(s[1] == 0xbb && s[2] == 0xbf) &&
		!(s[1] == 0xbf && (s[2] == 0xbe || s[2] == 0xbf)));
}

static size_t utf8_width(unsigned char c)
{
	return (c & 0x80) == 0 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : 4;
}

/* libyaml is_break: \r, \n, NEL (U+0085), LS (U+2028), PS (U+2029). */
static bool is_brk(const unsigned char *s)
{
	return s[0] == '\r' || s[0] == '\n' || (s[0] == 0xc2 && s[1] == 0x85) ||
	       (s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9));
}

/* go-yaml's is_bom looks at the string's first bytes whatever the position (its
 * yamlprivateh.go ignores the index), so a leading BOM marks every character. */
static bool leading_bom(const unsigned char *s)
{
	return s[0] == 0xef && s[1] == 0xbb && s[2] == 0xbf;
}

static void analyze(const char *str, struct analysis *an)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len = strlen(str);
	bool block_ind = false, special = leading_bom(s), tabs = false, line_breaks = false;
	bool leading_space = false, trailing_space = false, leading_break = false,
	     trailing_break = false, break_space = false, space_break = false;
	bool prev_space = false, prev_break = false, preceded_ws = true;
	if (len >= 3 && ((s[0] == '-' && s[1] == '-' && s[2] == '-') ||
			 (s[0] == '.' && s[1] == '.' && s[2] == '.')))
		block_ind = true;
	for (size_t i = 0; i < len;) {
		size_t w = utf8_width(s[i]);
		unsigned char c = s[i];
		const unsigned char *nx = s + (i + w < len ? i + w : len);
		bool followed_ws = !*nx || *nx == ' ' || *nx == '\t' || is_brk(nx);
		if (i == 0) {
			if (strchr("#,[]{}&*!|>'\"%@`", c) && c)
				block_ind = true;
			if ((c == '?' || c == ':' || c == '-') && followed_ws)
				block_ind = true;
		} else if ((c == ':' && followed_ws) || (c == '#' && preceded_ws)) {
			block_ind = true;
		}
		if (c == '\t')
			tabs = true;
		else if (!printable(s + i))
			special = true;
		if (c == ' ') {
			leading_space |= i == 0;
			trailing_space |= i + w == len;
			break_space |= prev_break;
			prev_space = true;
			prev_break = false;
		} else if (is_brk(s + i)) {
			line_breaks = true;
			leading_break |= i == 0;
			trailing_break |= i + w == len;
			space_break |= prev_space;
			prev_break = true;
			prev_space = false;
		} else {
			prev_space = prev_break = false;
		}
		preceded_ws = c == ' ' || c == '\t' || is_brk(s + i);
		i += w;
	}
	an->multiline = line_breaks;
	an->plain_ok = !(leading_space || leading_break || trailing_space || trailing_break ||
			 break_space || space_break || tabs || special || line_breaks || block_ind);
	an->single_ok = !(break_space || space_break || tabs || special);
	an->block_ok = !(trailing_space || space_break || special);
}

/* go-yaml v3 encode.go isOldBool / isBase60Float: YAML 1.1 readers would not read these
 * back as strings, so v3 quotes them. */
static bool old_bool(const char *s)
{
	static const char *const v[] = {"y", "Y",  "yes", "Yes", "YES", "on",  "On",  "ON", "n",
					"N", "no", "No",  "NO",	 "off", "Off", "OFF", NULL};
	return in_list(s, v);
}

static bool base60_float(const char *s)
{
	/* ^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$ */
	const char *p = s + (*s == '+' || *s == '-');
	if (!isdigit((unsigned char)*p))
		return false;
	while (isdigit((unsigned char)*p) || *p == '_')
		p++;
	int groups = 0;
	while (*p == ':') {
		p++;
		if (p[0] >= '0' && p[0] <= '5' && isdigit((unsigned char)p[1]))
			p += 2;
		else if (isdigit((unsigned char)p[0]))
			p++;
		else
			return false;
		groups++;
	}
	if (!groups)
		return false;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p) || *p == '_'; p++)
			;
	return !*p;
}

static void put_indent(FILE *f, int n)
{
	for (int i = 0; i < n; i++)
		fputc(' ', f);
}

/* yaml_emitter_write_double_quoted_scalar without folding (v3 writes no line breaks). */
static void put_double(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	bool bom = leading_bom(s);
	fputc('"', f);
	for (size_t i = 0; s[i];) {
		size_t w = utf8_width(s[i]);
		if (printable(s + i) && !bom && !is_brk(s + i) && s[i] != '"' && s[i] != '\\') {
			fwrite(s + i, 1, w, f);
			i += w;
			continue;
		}
		uint32_t cp = s[i] & (w == 1 ? 0x7f : w == 2 ? 0x1f : w == 3 ? 0x0f : 0x07);
		for (size_t k = 1; k < w && s[i + k]; k++)
			cp = cp << 6 | (s[i + k] & 0x3f);
		i += w;
		static const char esc_from[] = "\0\a\b\t\n\v\f\r\x1b\"\\";
		static const char esc_to[] = "0abtnvfre\"\\";
		const char *e = cp < 0x80 ? memchr(esc_from, (int)cp, sizeof(esc_from) - 1) : NULL;
		if (e)
			fprintf(f, "\\%c", esc_to[e - esc_from]);
		else if (cp == 0x85)
			fputs("\\N", f);
		else if (cp == 0xa0)
			fputs("\\_", f);
		else if (cp == 0x2028)
			fputs("\\L", f);
		else if (cp == 0x2029)
			fputs("\\P", f);
		else if (cp <= 0xff)
			fprintf(f, "\\x%02X", cp);
		else if (cp <= 0xffff)
			fprintf(f, "\\u%04X", cp);
		else
			fprintf(f, "\\U%08X", cp);
	}
	fputc('"', f);
}

/* The writers of block and single-quoted scalars share libyaml's line handling: a break
 * is copied as it is, and the next non-break character first goes to `indent` (on a new
 * line when the cursor is not at a line start, as write_indent does). */
struct lines {
	FILE *f;
	int indent;
	bool bol, breaks;
};

static void lines_put(struct lines *l, const unsigned char *s, size_t w)
{
	if (is_brk(s)) {
		fwrite(s, 1, w, l->f);
		l->bol = l->breaks = true;
		return;
	}
	if (l->breaks) {
		if (!l->bol)
			fputc('\n', l->f);
		put_indent(l->f, l->indent);
	}
	fwrite(s, 1, w, l->f);
	l->bol = l->breaks = false;
}

/* Single-quoted: quotes doubled; only LS/PS breaks get here (a string with \n is a
 * literal or double-quoted, others breaks are not printable). */
static void put_single(FILE *f, const char *str, int indent)
{
	const unsigned char *s = (const unsigned char *)str;
	struct lines l = {.f = f, .indent = indent};
	fputc('\'', f);
	for (size_t i = 0; s[i];) {
		size_t w = utf8_width(s[i]);
		if (s[i] == '\'')
			lines_put(&l, s + i, 1);
		lines_put(&l, s + i, w);
		i += w;
	}
	fputc('\'', f);
}

/* yaml_emitter_write_literal_scalar: "|", the indentation hint (best_indent) when the
 * text starts with a space or a break, the chomping hint, then the lines at `indent`;
 * empty lines carry no spaces. Returns true when the output ends at a line start. */
static bool put_literal(FILE *f, const char *str, int indent)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len = strlen(str), last = 0, prev = 0;
	for (size_t i = 0; i < len; i += utf8_width(s[i]))
		prev = last, last = i;
	fputc('|', f);
	if (s[0] == ' ' || is_brk(s))
		fputc('0' + BEST_INDENT, f);
	if (!len || !is_brk(s + last))
		fputc('-', f);
	else if (last == 0 || is_brk(s + prev))
		fputc('+', f);
	struct lines l = {.f = f, .indent = indent, .breaks = true};
	for (size_t i = 0; i < len;) {
		size_t w = utf8_width(s[i]);
		lines_put(&l, s + i, w);
		i += w;
	}
	return l.bol;
}

/* A string scalar: encode.go stringv picks literal (has a newline), plain (reads back as
 * the same string), else double quotes; the emitter then falls back from plain to single
 * quotes and from either to double quotes when the characters need it. `indent` is the
 * scalar's own indentation (for literal content); `key` marks a simple key. Returns true
 * when the output now stands at the start of a line (a literal ending in a break). */
static bool put_string(FILE *f, const char *s, int indent, bool key)
{
	struct analysis an;
	analyze(s, &an);
	if (strchr(s, '\n')) {
		if (an.block_ok && !key)
			return put_literal(f, s, indent);
		put_double(f, s);
		return false;
	}
	bool can_plain = sv_resolve_plain(s, NULL) == SV_STR && !base60_float(s) && !old_bool(s);
	if (!can_plain)
		put_double(f, s);
	else if (an.plain_ok)
		fputs(s, f);
	else if (an.single_ok)
		put_single(f, s, indent);
	else
		put_double(f, s);
	return false;
}

/* encode.go floatv: strconv.FormatFloat(f, 'g', -1, 64), i.e. the shortest digits that
 * read back, in %e form when the exponent is < -4 or >= 6 (Go's rule for the shortest
 * precision), then ".inf"/"-.inf"/".nan". */
static void put_float(FILE *f, double x)
{
	if (isnan(x) || isinf(x)) {
		fputs(isnan(x) ? ".nan" : x < 0 ? "-.inf" : ".inf", f);
		return;
	}
	char buf[64];
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*e", prec - 1, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	char digs[32];
	int nd = 0;
	const char *p = buf + (buf[0] == '-');
	for (; *p && *p != 'e' && nd < 31; p++)
		if (isdigit((unsigned char)*p))
			digs[nd++] = *p;
	int exp = *p == 'e' ? atoi(p + 1) : 0;
	while (nd > 1 && digs[nd - 1] == '0')
		nd--;
	if (buf[0] == '-')
		fputc('-', f);
	if (exp < -4 || exp >= 6) {
		fputc(digs[0], f);
		if (nd > 1)
			fprintf(f, ".%.*s", nd - 1, digs + 1);
		fprintf(f, "e%c%02d", exp < 0 ? '-' : '+', abs(exp));
		return;
	}
	int dp = exp + 1; /* digits before the point */
	if (dp <= 0) {
		fputs("0.", f);
		for (int i = 0; i < -dp; i++)
			fputc('0', f);
		fprintf(f, "%.*s", nd, digs);
		return;
	}
	for (int i = 0; i < dp; i++)
		fputc(i < nd ? digs[i] : '0', f);
	if (nd > dp)
		fprintf(f, ".%.*s", nd - dp, digs + dp);
}

/* A scalar or an empty collection after "key:" or "- " (flow "{}"/"[]", as libyaml
 * writes empty collections). Returns true when the output stands at a line start. */
static bool put_inline(FILE *f, const struct sv *v, int indent, bool key)
{
	switch (v->kind) {
	case SV_NULL:
		fputs("null", f);
		break;
	case SV_BOOL:
		fputs(v->b ? "true" : "false", f);
		break;
	case SV_INT:
		fprintf(f, "%lld", (long long)v->i);
		break;
	case SV_UINT:
		fprintf(f, "%llu", (unsigned long long)v->u);
		break;
	case SV_FLOAT:
		put_float(f, v->f);
		break;
	case SV_TIME: /* time.Time: RFC 3339, plain */
		fputs(v->s ? v->s : v->ts, f);
		break;
	case SV_STR:
		return put_string(f, v->s ? v->s : "", indent, key);
	case SV_SEQ:
		fputs("[]", f);
		break;
	case SV_MAP:
		fputs("{}", f);
		break;
	}
	return false;
}

static bool is_block(const struct sv *v)
{
	return (v->kind == SV_SEQ || v->kind == SV_MAP) && v->n;
}

/* emitterc.go yaml_emitter_increase_indent ("[Go] ... more regular"): the first indent
 * inside a sequence item skips the "- ", everything else goes to the next multiple of
 * best_indent; the document's top collection is at 0. */
static int child_indent(int parent, bool in_seq_item)
{
	if (parent < 0)
		return 0;
	return in_seq_item ? parent + 2 : BEST_INDENT * ((parent + BEST_INDENT) / BEST_INDENT);
}

/* libyaml check_simple_key: a key up to 128 bytes on one line is written "key:"; others
 * become "? key" complex keys. */
static bool simple_key_ok(const struct sv *k)
{
	struct analysis an;
	const char *s = k->s ? k->s : "";
	analyze(s, &an);
	return !is_block(k) && strlen(s) <= 128 && !an.multiline;
}

struct em {
	FILE *f;
	bool bol; /* at the beginning of a line */
};

/* A non-empty block collection at `indent`. When `inline_first`, the cursor sits after
 * "- " and the first entry continues that line. */
static int put_block(struct em *e, const struct sv *v, int indent, bool inline_first)
{
	for (size_t i = 0; i < v->n; i++) {
		if (i || !inline_first) {
			if (!e->bol)
				fputc('\n', e->f);
			put_indent(e->f, indent);
		}
		e->bol = false;
		const struct sv *val = v->kind == SV_MAP ? &v->items[2 * i + 1] : &v->items[i];
		int sub = child_indent(indent, v->kind == SV_SEQ);
		bool cplx = v->kind == SV_MAP && !simple_key_ok(&v->items[2 * i]);
		if (v->kind == SV_MAP && !cplx) {
			put_inline(e->f, &v->items[2 * i], indent, true);
			fputc(':', e->f);
		} else if (v->kind == SV_MAP) { /* "? key" then ": value" on its own line */
			if (is_block(&v->items[2 * i]))
				return -1;
			fputs("? ", e->f);
			if (!put_inline(e->f, &v->items[2 * i], sub, false))
				fputc('\n', e->f);
			put_indent(e->f, indent);
			fputc(':', e->f);
		} else {
			fputc('-', e->f);
		}
		if (is_block(val) && cplx) { /* ":" keeps the line, as "- " does */
			put_indent(e->f, sub - indent - 1);
			if (put_block(e, val, sub, true) < 0)
				return -1;
			continue;
		}
		if (is_block(val) && v->kind == SV_MAP) {
			if (put_block(e, val, sub, false) < 0)
				return -1;
			continue;
		}
		fputc(' ', e->f);
		if (is_block(val)) {
			if (put_block(e, val, sub, true) < 0)
				return -1;
			continue;
		}
		e->bol = put_inline(e->f, val, sub, false);
	}
	return 0;
}

int sv_marshal(FILE *f, const struct sv *v)
{
	struct em e = {.f = f, .bol = true};
	if (is_block(v)) {
		if (put_block(&e, v, child_indent(-1, false), false) < 0)
			return -1;
	} else {
		e.bol = put_inline(f, v, 0, false);
	}
	if (!e.bol)
		fputc('\n', f);
	return 0;
}
