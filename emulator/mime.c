/* MIME for Graph mail: renders a stored message as RFC 5322 (message
 * $value; attachments base64, streamed from their files into an unlinked
 * temp file so size is flat in memory) and parses the simple messages that
 * MIME sendMail carries. */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fdopen, gmtime_r, strdup */
#include "graph_priv.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *str(json_object *o, const char *path) {
  json_object *v = emu_odata_path_get(o, path);
  return v && json_object_is_type(v, json_type_string)
             ? json_object_get_string(v)
             : NULL;
}

static bool ascii_only(const char *s) {
  for (; s && *s; s++)
    if ((unsigned char)*s >= 0x80 || *s == '\r' || *s == '\n')
      return false;
  return true;
}

/* RFC 2047 encoded-word for non-ASCII header text. */
static void put_text(FILE *f, const char *s) {
  if (ascii_only(s)) {
    fputs(s ? s : "", f);
    return;
  }
  char *b = emu_b64_encode(s, strlen(s));
  fprintf(f, "=?utf-8?B?%s?=", b);
  free(b);
}

static void put_recip(FILE *f, json_object *r) {
  const char *name = str(r, "emailAddress/name");
  const char *addr = str(r, "emailAddress/address");
  if (name && *name && (!addr || strcmp(name, addr))) {
    if (ascii_only(name) && !strpbrk(name, "\"\\")) {
      fprintf(f, "\"%s\" ", name);
    } else {
      put_text(f, name);
      fputc(' ', f);
    }
  }
  fprintf(f, "<%s>", addr && ascii_only(addr) ? addr : "");
}

static void put_recips(FILE *f, const char *hdr, json_object *arr) {
  size_t n = arr ? json_object_array_length(arr) : 0;
  if (!n)
    return;
  fprintf(f, "%s: ", hdr);
  for (size_t i = 0; i < n; i++) {
    if (i)
      fputs(",\r\n ", f);
    put_recip(f, json_object_array_get_idx(arr, i));
  }
  fputs("\r\n", f);
}

static void put_b64_lines(FILE *f, const unsigned char *data, size_t len) {
  for (size_t off = 0; off < len; off += 57) {
    size_t n = len - off < 57 ? len - off : 57;
    char *b = emu_b64_encode(data + off, n);
    fprintf(f, "%s\r\n", b);
    free(b);
  }
}

static int put_file_b64(FILE *f, const char *path) {
  FILE *in = fopen(path, "rb");
  if (!in)
    return -1;
  unsigned char buf[57 * 1024]; /* whole 57-byte lines per chunk */
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
    put_b64_lines(f, buf, n);
  fclose(in);
  return 0;
}

static bool safe_param(const char *s) {
  return s && ascii_only(s) && !strpbrk(s, "\"\\");
}

int emu_mime_render(const emu_message *m, int64_t *size) {
  char path[512];
  snprintf(path, sizeof(path), "%s/mime-XXXXXX", graph_store()->dir);
  int fd = mkstemp(path);
  if (fd < 0)
    return -1;
  unlink(path); /* lives as long as the response holds the fd */
  int fd2 = dup(fd);
  FILE *f = fdopen(fd2, "w");
  if (!f) {
    close(fd2);
    close(fd);
    return -1;
  }
  json_object *p = m->props;
  json_object *from = emu_odata_path_get(p, "from");
  if (from) {
    fputs("From: ", f);
    put_recip(f, from);
    fputs("\r\n", f);
  }
  json_object *sender = emu_odata_path_get(p, "sender");
  if (sender && from && str(sender, "emailAddress/address") &&
      str(from, "emailAddress/address") &&
      strcasecmp(str(sender, "emailAddress/address"),
                 str(from, "emailAddress/address"))) {
    fputs("Sender: ", f);
    put_recip(f, sender);
    fputs("\r\n", f);
  }
  put_recips(f, "To", emu_odata_path_get(p, "toRecipients"));
  put_recips(f, "Cc", emu_odata_path_get(p, "ccRecipients"));
  put_recips(f, "Bcc", emu_odata_path_get(p, "bccRecipients"));
  put_recips(f, "Reply-To", emu_odata_path_get(p, "replyTo"));
  fputs("Subject: ", f);
  put_text(f, str(p, "subject"));
  fputs("\r\n", f);
  double t;
  const char *sent = str(p, "sentDateTime");
  if (sent && emu_odata_parse_time(sent, &t) == 0) {
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    char d[64];
    strftime(d, sizeof(d), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    fprintf(f, "Date: %s\r\n", d);
  }
  const char *imid = str(p, "internetMessageId");
  if (imid && ascii_only(imid))
    fprintf(f, "Message-ID: %s\r\n", imid);
  const char *imp = str(p, "importance");
  if (imp && strcmp(imp, "normal"))
    fprintf(f, "Importance: %s\r\n", imp);
  fputs("MIME-Version: 1.0\r\n", f);
  const char *ct = str(p, "body/contentType");
  const char *body = str(p, "body/content");
  const char *btype =
      ct && !strcasecmp(ct, "html") ? "text/html" : "text/plain";
  char boundary[64];
  snprintf(boundary, sizeof(boundary), "_emu_%.24s_", m->immutable_id + 8);
  for (char *c = boundary; *c; c++)
    if (!isalnum((unsigned char)*c))
      *c = '_';
  bool multi = m->natts > 0;
  if (multi)
    fprintf(f,
            "Content-Type: multipart/mixed;\r\n boundary=\"%s\"\r\n\r\n"
            "--%s\r\n",
            boundary, boundary);
  fprintf(f,
          "Content-Type: %s; charset=\"utf-8\"\r\n"
          "Content-Transfer-Encoding: base64\r\n\r\n",
          btype);
  put_b64_lines(f, (const unsigned char *)(body ? body : ""),
                body ? strlen(body) : 0);
  for (size_t i = 0; i < m->natts; i++) {
    const emu_attachment *a = m->atts[i];
    const char *name = safe_param(a->name) ? a->name : "attachment";
    fprintf(f, "\r\n--%s\r\n", boundary);
    fprintf(f,
            "Content-Type: %s; name=\"%s\"\r\n"
            "Content-Disposition: %s; filename=\"%s\"; size=%lld\r\n",
            safe_param(a->content_type) ? a->content_type
                                        : "application/octet-stream",
            name, a->is_inline ? "inline" : "attachment", name,
            (long long)a->size);
    if (a->content_id && safe_param(a->content_id))
      fprintf(f, "Content-ID: <%s>\r\n", a->content_id);
    fputs("Content-Transfer-Encoding: base64\r\n\r\n", f);
    if (put_file_b64(f, a->path) < 0) {
      fclose(f);
      close(fd);
      return -1;
    }
  }
  if (multi)
    fprintf(f, "\r\n--%s--\r\n", boundary);
  if (fclose(f) != 0) {
    close(fd);
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
    close(fd);
    return -1;
  }
  *size = st.st_size;
  return fd;
}

/* ---- parsing (MIME sendMail) ------------------------------------------- */

static json_object *parse_addr_list(const char *v) {
  json_object *arr = json_object_new_array();
  char *copy = strdup(v), *save = NULL;
  for (char *t = strtok_r(copy, ",", &save); t;
       t = strtok_r(NULL, ",", &save)) {
    while (isspace((unsigned char)*t))
      t++;
    char *lt = strchr(t, '<'), *gt = lt ? strchr(lt, '>') : NULL;
    char name[256] = "", addr[256] = "";
    if (lt && gt) {
      snprintf(addr, sizeof(addr), "%.*s", (int)(gt - lt - 1), lt + 1);
      size_t nl = (size_t)(lt - t);
      while (nl && isspace((unsigned char)t[nl - 1]))
        nl--;
      if (nl >= 2 && t[0] == '"' && t[nl - 1] == '"') {
        t++;
        nl -= 2;
      }
      snprintf(name, sizeof(name), "%.*s", (int)nl, t);
    } else {
      snprintf(addr, sizeof(addr), "%s", t);
      size_t al = strlen(addr);
      while (al && isspace((unsigned char)addr[al - 1]))
        addr[--al] = '\0';
    }
    if (!addr[0])
      continue;
    json_object *r = json_object_new_object(), *ea = json_object_new_object();
    json_object_object_add(ea, "name",
                           json_object_new_string(name[0] ? name : addr));
    json_object_object_add(ea, "address", json_object_new_string(addr));
    json_object_object_add(r, "emailAddress", ea);
    json_object_array_add(arr, r);
  }
  free(copy);
  return arr;
}

json_object *emu_mime_parse(const char *mime, size_t len) {
  char *txt = malloc(len + 1);
  memcpy(txt, mime, len);
  txt[len] = '\0';
  if (strlen(txt) != len) { /* embedded NUL: not a message */
    free(txt);
    return NULL;
  }
  char *body = strstr(txt, "\r\n\r\n");
  size_t skip = 4;
  char *lf = strstr(txt, "\n\n");
  if (!body || (lf && lf < body)) {
    body = lf;
    skip = 2;
  }
  if (!body) {
    free(txt);
    return NULL;
  }
  *body = '\0';
  body += skip;
  json_object *p = json_object_new_object();
  bool html = false, any = false;
  /* unfold: continuation lines start with whitespace */
  for (char *c = txt; *c; c++)
    if ((*c == '\r' || *c == '\n') &&
        (c[1] == ' ' || c[1] == '\t' ||
         (c[1] == '\n' && (c[2] == ' ' || c[2] == '\t'))))
      *c = ' ';
  char *save = NULL;
  for (char *line = strtok_r(txt, "\r\n", &save); line;
       line = strtok_r(NULL, "\r\n", &save)) {
    char *colon = strchr(line, ':');
    if (!colon)
      continue;
    *colon = '\0';
    char *v = colon + 1;
    while (isspace((unsigned char)*v))
      v++;
    any = true;
    if (!strcasecmp(line, "Subject"))
      json_object_object_add(p, "subject", json_object_new_string(v));
    else if (!strcasecmp(line, "From")) {
      json_object *a = parse_addr_list(v);
      if (json_object_array_length(a))
        json_object_object_add(
            p, "from", json_object_get(json_object_array_get_idx(a, 0)));
      json_object_put(a);
    } else if (!strcasecmp(line, "To"))
      json_object_object_add(p, "toRecipients", parse_addr_list(v));
    else if (!strcasecmp(line, "Cc"))
      json_object_object_add(p, "ccRecipients", parse_addr_list(v));
    else if (!strcasecmp(line, "Bcc"))
      json_object_object_add(p, "bccRecipients", parse_addr_list(v));
    else if (!strcasecmp(line, "Content-Type"))
      html = strncasecmp(v, "text/html", 9) == 0;
  }
  if (!any) {
    json_object_put(p);
    free(txt);
    return NULL;
  }
  json_object *b = json_object_new_object();
  json_object_object_add(b, "contentType",
                         json_object_new_string(html ? "html" : "text"));
  json_object_object_add(b, "content", json_object_new_string(body));
  json_object_object_add(p, "body", b);
  free(txt);
  return p;
}
