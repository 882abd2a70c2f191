/* Mail store of the emulator. See mailstore.h. */
#define _POSIX_C_SOURCE 200809L /* gmtime_r, strdup, mkdtemp, O_CLOEXEC */
#include "mailstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *const wellknown[] = {
    "inbox",
    "drafts",
    "sentitems",
    "deleteditems",
    "archive",
    "junkemail",
    "outbox",
    "conversationhistory",
    "scheduled",
    "searchfolders",
    "recoverableitemsdeletions",
    NULL,
};
static const char *const wellknown_names[] = {
    "Inbox",
    "Drafts",
    "Sent Items",
    "Deleted Items",
    "Archive",
    "Junk Email",
    "Outbox",
    "Conversation History",
    "Scheduled",
    "Search Folders",
    "Recoverable Items Deletions",
    NULL,
};

static int64_t default_now(void) {
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void iso_ms(int64_t ms, char *buf) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void emu_mailstore_now_iso(emu_mailstore *s, char *buf) {
  iso_ms(s->now_ms(), buf);
}

char *emu_base64_encode(const unsigned char *data, size_t len) {
  size_t out = 4 * ((len + 2) / 3) + 1;
  char *buf = malloc(out);
  if (!buf)
    return NULL;
  EVP_EncodeBlock((unsigned char *)buf, data, (int)len);
  return buf;
}

unsigned char *emu_base64_decode(const char *text, size_t *len) {
  size_t n = strlen(text);
  if (n % 4 != 0)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    char c = text[i];
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '+' || c == '/' ||
              (c == '=' && i >= n - 2);
    if (!ok)
      return NULL;
  }
  unsigned char *buf = malloc(n / 4 * 3 + 1);
  if (!buf)
    return NULL;
  int r = n ? EVP_DecodeBlock(buf, (const unsigned char *)text, (int)n) : 0;
  if (r < 0) {
    free(buf);
    return NULL;
  }
  size_t pad = 0;
  if (n && text[n - 1] == '=')
    pad++;
  if (n > 1 && text[n - 2] == '=')
    pad++;
  *len = (size_t)r - pad;
  return buf;
}

void emu_mailstore_new_id(char *buf, const char *prefix) {
  /* Graph ids are base64 of an Exchange entry id: "AAMkA..." ending in
   * "=". We keep that look, made URL-safe so they paste into paths. */
  unsigned char raw[60];
  RAND_bytes(raw, sizeof(raw));
  char *b = emu_base64_encode(raw, sizeof(raw));
  for (char *c = b; *c; c++) {
    if (*c == '+')
      *c = '-';
    else if (*c == '/')
      *c = '_';
  }
  snprintf(buf, EMU_ID_MAX, "%s%s%s", prefix, b, "AAA=");
  free(b);
}

emu_mailstore *emu_mailstore_new(const char *dir) {
  emu_mailstore *s = calloc(1, sizeof(*s));
  pthread_mutex_init(&s->mu, NULL);
  s->now_ms = default_now;
  if (dir) {
    s->dir = strdup(dir);
    mkdir(dir, 0700);
  } else {
    const char *tmp = getenv("TMPDIR");
    char tpl[512];
    snprintf(tpl, sizeof(tpl), "%s/emu-mail-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tpl)) {
      free(s);
      return NULL;
    }
    s->dir = strdup(tpl);
    s->own_dir = true;
  }
  return s;
}

static void free_att(emu_attachment *a) {
  if (!a)
    return;
  if (a->path)
    unlink(a->path);
  free(a->path);
  free(a->name);
  free(a->content_type);
  free(a->content_id);
  free(a);
}

static void free_msg(emu_message *m) {
  for (size_t i = 0; i < m->natts; i++)
    free_att(m->atts[i]);
  free(m->atts);
  json_object_put(m->props);
  free(m);
}

static void free_folder(emu_folder *f) {
  for (size_t i = 0; i < f->nmsgs; i++)
    free_msg(f->msgs[i]);
  free(f->msgs);
  free(f->tombs);
  free(f->display_name);
  free(f);
}

static void free_upload(emu_upload *u) {
  if (u->path)
    unlink(u->path);
  free(u->path);
  free(u->name);
  free(u->content_type);
  free(u->content_id);
  free(u);
}

void emu_mailstore_free(emu_mailstore *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->nboxes; i++) {
    emu_mailbox *mb = s->boxes[i];
    for (size_t j = 0; j < mb->nfolders; j++)
      free_folder(mb->folders[j]);
    free(mb->folders);
    for (size_t j = 0; j < mb->nsent; j++) {
      free(mb->sent[j].subject);
      free(mb->sent[j].internet_message_id);
    }
    free(mb->sent);
    json_object_put(mb->auto_replies);
    json_object_put(mb->categories);
    free(mb->user_id);
    free(mb->upn);
    free(mb->display_name);
    free(mb);
  }
  free(s->boxes);
  for (size_t i = 0; i < s->nuploads; i++)
    free_upload(s->uploads[i]);
  free(s->uploads);
  if (s->own_dir)
    rmdir(s->dir);
  free(s->dir);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

void emu_mailstore_lock(emu_mailstore *s) {
  pthread_mutex_lock(&s->mu);
}

void emu_mailstore_unlock(emu_mailstore *s) {
  pthread_mutex_unlock(&s->mu);
}

void emu_mailstore_set_clock(emu_mailstore *s, int64_t (*now_ms)(void)) {
  s->now_ms = now_ms ? now_ms : default_now;
}

uint64_t emu_mailstore_seq(const emu_mailstore *s) {
  return s->seq;
}

/* ---- mailboxes and folders ------------------------------------------- */

static emu_folder *folder_new(emu_mailbox *mb, emu_folder *parent,
                              const char *wk, const char *name) {
  emu_folder *f = calloc(1, sizeof(*f));
  emu_mailstore_new_id(f->id, "AAMkAGI2");
  snprintf(f->wellknown, sizeof(f->wellknown), "%s", wk ? wk : "");
  f->display_name = strdup(name);
  f->parent = parent;
  f->mailbox = mb;
  mb->folders = realloc(mb->folders, (mb->nfolders + 1) * sizeof(*mb->folders));
  mb->folders[mb->nfolders++] = f;
  return f;
}

emu_mailbox *emu_mailbox_add(emu_mailstore *s, const char *user_id,
                             const char *upn, const char *display_name) {
  emu_mailbox *mb = emu_mailbox_find(s, upn);
  if (!mb && user_id)
    mb = emu_mailbox_find(s, user_id);
  if (mb)
    return mb;
  mb = calloc(1, sizeof(*mb));
  mb->user_id = strdup(user_id ? user_id : upn);
  mb->upn = strdup(upn);
  mb->display_name = strdup(display_name ? display_name : upn);
  mb->max_message_size = 37748736; /* 36 MB, what EXO reports by default */
  mb->auto_replies = json_tokener_parse(
      "{\"status\":\"disabled\",\"externalAudience\":\"all\","
      "\"internalReplyMessage\":\"\",\"externalReplyMessage\":\"\","
      "\"scheduledStartDateTime\":{\"dateTime\":\"2024-01-01T00:00:00."
      "0000000\","
      "\"timeZone\":\"UTC\"},\"scheduledEndDateTime\":{\"dateTime\":"
      "\"2024-01-02T00:00:00.0000000\",\"timeZone\":\"UTC\"}}");
  /* Outlook's master category list of a new mailbox: six colour
   * categories (outlookCategory: id, displayName, color preset). */
  static const char *const cats[][2] = {
      {"Red category", "preset0"},    {"Orange category", "preset1"},
      {"Yellow category", "preset3"}, {"Green category", "preset4"},
      {"Blue category", "preset7"},   {"Purple category", "preset8"}};
  mb->categories = json_object_new_array();
  for (size_t i = 0; i < sizeof cats / sizeof cats[0]; i++)
    emu_category_add(mb, cats[i][0], cats[i][1]);
  emu_folder *root =
      folder_new(mb, NULL, "msgfolderroot", "Top of Information Store");
  for (size_t i = 0; wellknown[i]; i++) {
    emu_folder *f = folder_new(mb, root, wellknown[i], wellknown_names[i]);
    /* These exist but Outlook hides them from the folder list. */
    f->hidden = strcmp(wellknown[i], "scheduled") == 0 ||
                strcmp(wellknown[i], "searchfolders") == 0 ||
                strcmp(wellknown[i], "recoverableitemsdeletions") == 0;
  }
  s->boxes = realloc(s->boxes, (s->nboxes + 1) * sizeof(*s->boxes));
  s->boxes[s->nboxes++] = mb;
  return mb;
}

emu_mailbox *emu_mailbox_find(emu_mailstore *s, const char *key) {
  if (!key)
    return NULL;
  for (size_t i = 0; i < s->nboxes; i++)
    if (strcasecmp(s->boxes[i]->upn, key) == 0 ||
        strcasecmp(s->boxes[i]->user_id, key) == 0)
      return s->boxes[i];
  return NULL;
}

emu_folder *emu_folder_find(emu_mailbox *mb, const char *key) {
  if (!mb || !key)
    return NULL;
  for (size_t i = 0; i < mb->nfolders; i++) {
    emu_folder *f = mb->folders[i];
    if (strcmp(f->id, key) == 0 ||
        (f->wellknown[0] && strcasecmp(f->wellknown, key) == 0))
      return f;
  }
  return NULL;
}

void emu_category_add(emu_mailbox *mb, const char *name, const char *color) {
  unsigned char u[16];
  RAND_bytes(u, sizeof u);
  u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* a version 4 GUID */
  u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
  char id[37];
  snprintf(
      id, sizeof id,
      "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
      u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
      u[12], u[13], u[14], u[15]);
  json_object *c = json_object_new_object();
  json_object_object_add(c, "id", json_object_new_string(id));
  json_object_object_add(c, "displayName", json_object_new_string(name));
  json_object_object_add(c, "color", json_object_new_string(color));
  json_object_array_add(mb->categories, c);
}

emu_folder *emu_folder_seed_find(emu_mailbox *mb, const char *key) {
  emu_folder *f = emu_folder_find(mb, key);
  for (size_t i = 0; mb && key && i < mb->nfolders && !f; i++)
    if (strcasecmp(mb->folders[i]->display_name, key) == 0)
      f = mb->folders[i];
  return f;
}

size_t emu_folder_child_count(const emu_folder *f) {
  size_t n = 0;
  for (size_t i = 0; i < f->mailbox->nfolders; i++)
    if (f->mailbox->folders[i]->parent == f)
      n++;
  return n;
}

emu_folder *emu_folder_create(emu_mailstore *s, emu_mailbox *mb,
                              emu_folder *parent, const char *name, bool hidden,
                              bool *conflict) {
  (void)s;
  *conflict = false;
  for (size_t i = 0; i < mb->nfolders; i++)
    if (mb->folders[i]->parent == parent &&
        strcasecmp(mb->folders[i]->display_name, name) == 0) {
      *conflict = true;
      return NULL;
    }
  emu_folder *f = folder_new(mb, parent, NULL, name);
  f->hidden = hidden;
  return f;
}

json_object *emu_folder_to_json(const emu_folder *f) {
  json_object *o = json_object_new_object();
  size_t unread = 0;
  for (size_t i = 0; i < f->nmsgs; i++) {
    json_object *r = NULL;
    json_object_object_get_ex(f->msgs[i]->props, "isRead", &r);
    if (!json_object_get_boolean(r))
      unread++;
  }
  json_object_object_add(o, "id", json_object_new_string(f->id));
  json_object_object_add(o, "displayName",
                         json_object_new_string(f->display_name));
  json_object_object_add(o, "parentFolderId",
                         f->parent ? json_object_new_string(f->parent->id)
                                   : json_object_new_string(f->id));
  json_object_object_add(o, "childFolderCount",
                         json_object_new_int((int)emu_folder_child_count(f)));
  json_object_object_add(o, "unreadItemCount",
                         json_object_new_int((int)unread));
  json_object_object_add(o, "totalItemCount",
                         json_object_new_int((int)f->nmsgs));
  json_object_object_add(o, "isHidden", json_object_new_boolean(f->hidden));
  return o;
}

static void tombstone(emu_mailstore *s, emu_folder *f, const emu_message *m) {
  f->tombs = realloc(f->tombs, (f->ntombs + 1) * sizeof(*f->tombs));
  emu_tombstone *t = &f->tombs[f->ntombs++];
  memcpy(t->id, m->id, sizeof(t->id));
  memcpy(t->immutable_id, m->immutable_id, sizeof(t->immutable_id));
  t->seq = ++s->seq;
}

static void detach(emu_folder *f, emu_message *m) {
  for (size_t i = 0; i < f->nmsgs; i++)
    if (f->msgs[i] == m) {
      memmove(&f->msgs[i], &f->msgs[i + 1], (f->nmsgs - i - 1) * sizeof(m));
      f->nmsgs--;
      return;
    }
}

static void attach(emu_folder *f, emu_message *m) {
  if (f->nmsgs == f->capmsgs) {
    f->capmsgs = f->capmsgs ? f->capmsgs * 2 : 16;
    f->msgs = realloc(f->msgs, f->capmsgs * sizeof(*f->msgs));
  }
  f->msgs[f->nmsgs++] = m;
  m->folder = f;
}

void emu_folder_delete(emu_mailstore *s, emu_folder *f) {
  emu_mailbox *mb = f->mailbox;
  /* children first (they may have children of their own) */
  for (;;) {
    emu_folder *child = NULL;
    for (size_t i = 0; i < mb->nfolders && !child; i++)
      if (mb->folders[i]->parent == f)
        child = mb->folders[i];
    if (!child)
      break;
    emu_folder_delete(s, child);
  }
  for (size_t i = 0; i < mb->nfolders; i++)
    if (mb->folders[i] == f) {
      memmove(&mb->folders[i], &mb->folders[i + 1],
              (mb->nfolders - i - 1) * sizeof(f));
      mb->nfolders--;
      break;
    }
  s->seq++;
  free_folder(f);
}

/* ---- messages ---------------------------------------------------------- */

static void set_str(json_object *o, const char *k, const char *v) {
  json_object_object_add(o, k, json_object_new_string(v));
}

static bool has_key(json_object *o, const char *k) {
  return json_object_object_get_ex(o, k, NULL);
}

static void new_change_key(json_object *props) {
  unsigned char raw[12];
  RAND_bytes(raw, sizeof(raw));
  char *b = emu_base64_encode(raw, sizeof(raw));
  char ck[40];
  snprintf(ck, sizeof(ck), "CQAAA%s", b);
  free(b);
  set_str(props, "changeKey", ck);
}

/* Plain text of the body for bodyPreview: tags dropped, whitespace folded,
 * at most 255 characters. */
static void update_preview(json_object *props) {
  json_object *body = NULL, *content = NULL;
  const char *src = "";
  if (json_object_object_get_ex(props, "body", &body) &&
      json_object_object_get_ex(body, "content", &content) &&
      json_object_is_type(content, json_type_string))
    src = json_object_get_string(content);
  char out[256];
  size_t n = 0;
  bool in_tag = false, space = false;
  for (const char *p = src; *p && n < 255; p++) {
    if (*p == '<') {
      in_tag = true;
      continue;
    }
    if (in_tag) {
      if (*p == '>')
        in_tag = false;
      continue;
    }
    if (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') {
      space = n > 0;
      continue;
    }
    if (space && n < 254)
      out[n++] = ' ';
    space = false;
    out[n++] = *p;
  }
  /* don't cut a UTF-8 sequence in half */
  while (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80 && n == 255) {
    n--;
  }
  if (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0xC0)
    n--;
  out[n] = '\0';
  set_str(props, "bodyPreview", out);
}

emu_message *emu_message_add(emu_mailstore *s, emu_folder *f,
                             json_object *props) {
  emu_message *m = calloc(1, sizeof(*m));
  emu_mailstore_new_id(m->id, "AAMkAGI2TG93");
  emu_mailstore_new_id(m->immutable_id, "AAkALgAA");
  m->props = props;
  char now[32];
  emu_mailstore_now_iso(s, now);
  /* Defaults for what Exchange fills in. */
  if (!has_key(props, "createdDateTime"))
    set_str(props, "createdDateTime", now);
  if (!has_key(props, "receivedDateTime"))
    set_str(props, "receivedDateTime", now);
  if (!has_key(props, "sentDateTime"))
    set_str(props, "sentDateTime", now);
  set_str(props, "lastModifiedDateTime", now);
  if (!has_key(props, "subject"))
    json_object_object_add(props, "subject", json_object_new_string(""));
  if (!has_key(props, "importance"))
    set_str(props, "importance", "normal");
  if (!has_key(props, "isRead"))
    json_object_object_add(props, "isRead", json_object_new_boolean(false));
  if (!has_key(props, "isDraft"))
    json_object_object_add(props, "isDraft", json_object_new_boolean(false));
  if (!has_key(props, "inferenceClassification"))
    set_str(props, "inferenceClassification", "focused");
  if (!has_key(props, "isDeliveryReceiptRequested"))
    json_object_object_add(props, "isDeliveryReceiptRequested",
                           json_object_new_boolean(false));
  if (!has_key(props, "isReadReceiptRequested"))
    json_object_object_add(props, "isReadReceiptRequested",
                           json_object_new_boolean(false));
  if (!has_key(props, "body"))
    json_object_object_add(
        props, "body",
        json_tokener_parse("{\"contentType\":\"text\",\"content\":\"\"}"));
  static const char *const arrays[] = {"toRecipients",  "ccRecipients",
                                       "bccRecipients", "replyTo",
                                       "categories",    NULL};
  for (size_t i = 0; arrays[i]; i++)
    if (!has_key(props, arrays[i]))
      json_object_object_add(props, arrays[i], json_object_new_array());
  if (!has_key(props, "flag"))
    json_object_object_add(
        props, "flag", json_tokener_parse("{\"flagStatus\":\"notFlagged\"}"));
  if (!has_key(props, "internetMessageId")) {
    unsigned char raw[16];
    RAND_bytes(raw, sizeof(raw));
    char imid[96];
    int n = snprintf(imid, sizeof(imid), "<");
    for (size_t i = 0; i < sizeof(raw); i++)
      n += snprintf(imid + n, sizeof(imid) - (size_t)n, "%02X", raw[i]);
    snprintf(imid + n, sizeof(imid) - (size_t)n, "@emulator.local>");
    set_str(props, "internetMessageId", imid);
  }
  if (!has_key(props, "conversationId")) {
    char cid[EMU_ID_MAX];
    emu_mailstore_new_id(cid, "AAQkAGI2");
    set_str(props, "conversationId", cid);
  }
  if (!has_key(props, "conversationIndex")) {
    unsigned char raw[22];
    RAND_bytes(raw, sizeof(raw));
    char *b = emu_base64_encode(raw, sizeof(raw));
    set_str(props, "conversationIndex", b);
    free(b);
  }
  update_preview(props);
  new_change_key(props);
  m->seq = m->cseq = ++s->seq;
  attach(f, m);
  return m;
}

emu_message *emu_message_find(emu_mailbox *mb, const char *id) {
  if (!mb || !id)
    return NULL;
  for (size_t i = 0; i < mb->nfolders; i++) {
    emu_folder *f = mb->folders[i];
    for (size_t j = 0; j < f->nmsgs; j++)
      if (strcmp(f->msgs[j]->id, id) == 0 ||
          strcmp(f->msgs[j]->immutable_id, id) == 0)
        return f->msgs[j];
  }
  return NULL;
}

json_object *emu_message_to_json(const emu_message *m, bool immutable) {
  json_object *o = json_object_new_object();
  json_object *ck = NULL;
  json_object_object_get_ex(m->props, "changeKey", &ck);
  char etag[80];
  snprintf(etag, sizeof(etag), "W/\"%s\"", json_object_get_string(ck));
  set_str(o, "@odata.etag", etag);
  set_str(o, "id", immutable ? m->immutable_id : m->id);
  json_object_object_foreach(m->props, k, v) {
    /* mentions: beta's navigation property, only with $expand (and not
     * in v1.0); graph_beta.c derives mentionsPreview from it. */
    if (strcmp(k, "mentions") != 0)
      json_object_object_add(o, k, json_object_get(v));
  }
  bool has_att = false;
  for (size_t i = 0; i < m->natts; i++)
    has_att = has_att || !m->atts[i]->is_inline;
  json_object_object_add(o, "hasAttachments", json_object_new_boolean(has_att));
  set_str(o, "parentFolderId", m->folder->id);
  char link[EMU_ID_MAX + 96];
  snprintf(link, sizeof(link),
           "https://outlook.office365.com/owa/?ItemID=%s&exvsurl=1&viewmodel="
           "ReadMessageItem",
           m->id);
  set_str(o, "webLink", link);
  return o;
}

void emu_message_touch(emu_mailstore *s, emu_message *m) {
  char now[32];
  emu_mailstore_now_iso(s, now);
  set_str(m->props, "lastModifiedDateTime", now);
  update_preview(m->props);
  new_change_key(m->props);
  m->seq = ++s->seq;
}

void emu_message_delete(emu_mailstore *s, emu_message *m) {
  tombstone(s, m->folder, m);
  detach(m->folder, m);
  free_msg(m);
}

emu_message *emu_message_move(emu_mailstore *s, emu_message *m,
                              emu_folder *dst) {
  if (m->folder == dst)
    return m;
  tombstone(s, m->folder, m);
  detach(m->folder, m);
  emu_mailstore_new_id(m->id, "AAMkAGI2TG93");
  attach(dst, m);
  emu_message_touch(s, m);
  m->cseq = m->seq;
  return m;
}

static char *new_file_path(emu_mailstore *s) {
  char *p = malloc(strlen(s->dir) + 40);
  sprintf(p, "%s/att-%llu", s->dir, (unsigned long long)++s->file_counter);
  return p;
}

static int copy_file(const char *from, const char *to) {
  if (link(from, to) == 0) /* files are immutable: sharing is safe */
    return 0;
  int in = open(from, O_RDONLY | O_CLOEXEC);
  if (in < 0)
    return -1;
  int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0) {
    close(in);
    return -1;
  }
  char buf[65536];
  ssize_t r;
  int rc = 0;
  while ((r = read(in, buf, sizeof(buf))) > 0)
    if (write(out, buf, (size_t)r) != r) {
      rc = -1;
      break;
    }
  close(in);
  close(out);
  return r < 0 ? -1 : rc;
}

static emu_attachment *att_new(emu_message *m, const char *name,
                               const char *ctype, bool is_inline,
                               const char *cid, char *path, int64_t size,
                               const char *now) {
  emu_attachment *a = calloc(1, sizeof(*a));
  emu_mailstore_new_id(a->id, "AAMkAGI2TG93At");
  a->name = strdup(name ? name : "attachment");
  a->content_type = strdup(ctype ? ctype : "application/octet-stream");
  a->content_id = cid ? strdup(cid) : NULL;
  a->is_inline = is_inline;
  a->path = path;
  a->size = size;
  snprintf(a->modified, sizeof(a->modified), "%s", now);
  m->atts = realloc(m->atts, (m->natts + 1) * sizeof(*m->atts));
  m->atts[m->natts++] = a;
  return a;
}

emu_message *emu_message_copy(emu_mailstore *s, emu_message *m,
                              emu_folder *dst) {
  json_object *props = NULL;
  json_object_deep_copy(m->props, &props, NULL);
  emu_message *c = emu_message_add(s, dst, props);
  for (size_t i = 0; i < m->natts; i++) {
    emu_attachment *a = m->atts[i];
    char *path = new_file_path(s);
    if (copy_file(a->path, path) < 0) {
      free(path);
      continue;
    }
    att_new(c, a->name, a->content_type, a->is_inline, a->content_id, path,
            a->size, a->modified);
  }
  return c;
}

/* ---- attachments ------------------------------------------------------- */

emu_attachment *emu_attachment_add_bytes(emu_mailstore *s, emu_message *m,
                                         const char *name, const char *ctype,
                                         const void *data, size_t len,
                                         bool is_inline,
                                         const char *content_id) {
  char *path = new_file_path(s);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    free(path);
    return NULL;
  }
  const char *p = data;
  size_t left = len;
  while (left) {
    ssize_t w = write(fd, p, left);
    if (w <= 0) {
      close(fd);
      unlink(path);
      free(path);
      return NULL;
    }
    p += w;
    left -= (size_t)w;
  }
  close(fd);
  char now[32];
  emu_mailstore_now_iso(s, now);
  emu_attachment *a =
      att_new(m, name, ctype, is_inline, content_id, path, (int64_t)len, now);
  emu_message_touch(s, m);
  return a;
}

emu_attachment *emu_attachment_add_file(emu_mailstore *s, emu_message *m,
                                        const char *name, const char *ctype,
                                        const char *src, int64_t size,
                                        bool is_inline,
                                        const char *content_id) {
  char *path = new_file_path(s);
  if (rename(src, path) != 0) {
    free(path);
    return NULL;
  }
  char now[32];
  emu_mailstore_now_iso(s, now);
  emu_attachment *a =
      att_new(m, name, ctype, is_inline, content_id, path, size, now);
  emu_message_touch(s, m);
  return a;
}

emu_attachment *emu_attachment_find(emu_message *m, const char *id) {
  for (size_t i = 0; m && id && i < m->natts; i++)
    if (strcmp(m->atts[i]->id, id) == 0)
      return m->atts[i];
  return NULL;
}

void emu_attachment_delete(emu_mailstore *s, emu_message *m,
                           emu_attachment *a) {
  for (size_t i = 0; i < m->natts; i++)
    if (m->atts[i] == a) {
      memmove(&m->atts[i], &m->atts[i + 1], (m->natts - i - 1) * sizeof(a));
      m->natts--;
      free_att(a);
      emu_message_touch(s, m);
      return;
    }
}

json_object *emu_attachment_to_json(const emu_attachment *a, bool with_bytes) {
  json_object *o = json_object_new_object();
  set_str(o, "@odata.type", "#microsoft.graph.fileAttachment");
  set_str(o, "id", a->id);
  set_str(o, "lastModifiedDateTime", a->modified);
  set_str(o, "name", a->name);
  set_str(o, "contentType", a->content_type);
  json_object_object_add(o, "size", json_object_new_int64(a->size));
  json_object_object_add(o, "isInline", json_object_new_boolean(a->is_inline));
  json_object_object_add(o, "contentId",
                         a->content_id ? json_object_new_string(a->content_id)
                                       : NULL);
  json_object_object_add(o, "contentLocation", NULL);
  if (with_bytes) {
    FILE *f = fopen(a->path, "rb");
    unsigned char *buf = malloc(a->size > 0 ? (size_t)a->size : 1);
    size_t got = f ? fread(buf, 1, (size_t)a->size, f) : 0;
    if (f)
      fclose(f);
    char *b64 = emu_base64_encode(buf, got);
    free(buf);
    json_object_object_add(o, "contentBytes", json_object_new_string(b64));
    free(b64);
  }
  return o;
}

/* ---- upload sessions --------------------------------------------------- */

emu_upload *emu_upload_new(emu_mailstore *s, emu_mailbox *mb, emu_message *m,
                           const char *name, const char *ctype, int64_t size,
                           bool is_inline, const char *content_id) {
  emu_upload *u = calloc(1, sizeof(*u));
  unsigned char raw[30];
  RAND_bytes(raw, sizeof(raw));
  char *b = emu_base64_encode(raw, sizeof(raw));
  for (char *c = b; *c; c++)
    if (*c == '+')
      *c = '-';
    else if (*c == '/')
      *c = '_';
  snprintf(u->token, sizeof(u->token), "%s", b);
  free(b);
  u->mailbox = mb;
  snprintf(u->message_id, sizeof(u->message_id), "%s", m->immutable_id);
  u->name = strdup(name);
  u->content_type = strdup(ctype ? ctype : "application/octet-stream");
  u->content_id = content_id ? strdup(content_id) : NULL;
  u->is_inline = is_inline;
  u->size = size;
  u->path = new_file_path(s);
  int fd = open(u->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0)
    close(fd);
  u->expires = s->now_ms() + 24LL * 3600 * 1000; /* sessions last a day */
  s->uploads = realloc(s->uploads, (s->nuploads + 1) * sizeof(*s->uploads));
  s->uploads[s->nuploads++] = u;
  return u;
}

emu_upload *emu_upload_find(emu_mailstore *s, const char *token) {
  for (size_t i = 0; token && i < s->nuploads; i++)
    if (strcmp(s->uploads[i]->token, token) == 0)
      return s->uploads[i];
  return NULL;
}

void emu_upload_remove(emu_mailstore *s, emu_upload *u) {
  for (size_t i = 0; i < s->nuploads; i++)
    if (s->uploads[i] == u) {
      memmove(&s->uploads[i], &s->uploads[i + 1],
              (s->nuploads - i - 1) * sizeof(u));
      s->nuploads--;
      free_upload(u);
      return;
    }
}

void emu_mailbox_record_send(emu_mailbox *mb, const char *subject,
                             const char *imid, int recipients) {
  mb->sent = realloc(mb->sent, (mb->nsent + 1) * sizeof(*mb->sent));
  mb->sent[mb->nsent].subject = strdup(subject ? subject : "");
  mb->sent[mb->nsent].internet_message_id = strdup(imid ? imid : "");
  mb->sent[mb->nsent].recipients = recipients;
  mb->nsent++;
  mb->sent_count++;
}

/* ---- tenant file ------------------------------------------------------- */

static json_object *recipient_from(json_object *v) {
  /* "a@b" or {"emailAddress":{...}} or {"address":..,"name":..} */
  if (json_object_is_type(v, json_type_string)) {
    json_object *r = json_object_new_object(), *ea = json_object_new_object();
    json_object_object_add(ea, "name",
                           json_object_new_string(json_object_get_string(v)));
    json_object_object_add(ea, "address",
                           json_object_new_string(json_object_get_string(v)));
    json_object_object_add(r, "emailAddress", ea);
    return r;
  }
  if (json_object_object_get_ex(v, "emailAddress", NULL))
    return json_object_get(v);
  json_object *r = json_object_new_object();
  json_object_object_add(r, "emailAddress", json_object_get(v));
  return r;
}

/* A seed's "mentions" (beta's mention: resources/mention.md): each an
 * address, {"address","name"?}, or {"mentioned":{"address","name"?}};
 * stored as mention objects {"id","mentioned","createdBy"?} (new array), or
 * NULL with err set. Only beta reads them (graph_beta.c: mentionsPreview);
 * emu_message_to_json leaves them out. */
static json_object *mentions_from(json_object *v, json_object *from,
                                  const char *upn, char *err, size_t errlen) {
  if (!json_object_is_type(v, json_type_array)) {
    snprintf(err, errlen,
             "mailboxes[%s].messages: \"mentions\" must be an array of "
             "addresses or {\"mentioned\":{\"address\"}}",
             upn);
    return NULL;
  }
  json_object *out = json_object_new_array();
  for (size_t i = 0; i < json_object_array_length(v); i++) {
    json_object *it = json_object_array_get_idx(v, i), *who = it, *a = NULL,
                *n = NULL;
    if (json_object_is_type(it, json_type_object))
      json_object_object_get_ex(it, "mentioned", &who);
    const char *addr = NULL;
    if (json_object_is_type(who, json_type_string))
      addr = json_object_get_string(who);
    else if (json_object_object_get_ex(who, "address", &a) &&
             json_object_is_type(a, json_type_string))
      addr = json_object_get_string(a);
    if (addr == NULL || strchr(addr, '@') == NULL) {
      snprintf(err, errlen,
               "mailboxes[%s].messages: mentions[%zu]: an email address is "
               "required",
               upn, i);
      json_object_put(out);
      return NULL;
    }
    json_object_object_get_ex(who, "name", &n);
    json_object *m = json_object_new_object(), *ea = json_object_new_object();
    unsigned char u[16];
    char id[40];
    RAND_bytes(u, sizeof u);
    u[6] = (unsigned char)((u[6] & 0x0f) | 0x40); /* a version 4 GUID */
    u[8] = (unsigned char)((u[8] & 0x3f) | 0x80);
    snprintf(id, sizeof id,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
             "%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10],
             u[11], u[12], u[13], u[14], u[15]);
    json_object_object_add(m, "id", json_object_new_string(id));
    json_object_object_add(
        ea, "name",
        json_object_new_string(n ? json_object_get_string(n) : addr));
    json_object_object_add(ea, "address", json_object_new_string(addr));
    json_object_object_add(m, "mentioned", ea);
    json_object *fe = NULL;
    if (from && json_object_object_get_ex(from, "emailAddress", &fe))
      json_object_object_add(m, "createdBy", json_object_get(fe));
    json_object_array_add(out, m);
  }
  return out;
}

static int load_message(emu_mailstore *s, emu_mailbox *mb, json_object *jm,
                        char *err, size_t errlen) {
  json_object *props = json_object_new_object(), *folder_j = NULL;
  const char *folder = "inbox";
  if (json_object_object_get_ex(jm, "folder", &folder_j))
    folder = json_object_get_string(folder_j);
  emu_folder *f = emu_folder_seed_find(mb, folder);
  if (!f) {
    snprintf(err, errlen, "mailboxes[%s].messages: unknown folder '%s'",
             mb->upn, folder);
    json_object_put(props);
    return -1;
  }
  json_object *atts = NULL;
  json_object_object_foreach(jm, k, v) {
    if (!strcmp(k, "folder"))
      continue;
    if (!strcmp(k, "attachments")) {
      atts = v;
      continue;
    }
    if (!strcmp(k, "from") || !strcmp(k, "sender")) {
      json_object_object_add(props, k, recipient_from(v));
      continue;
    }
    if (!strcmp(k, "toRecipients") || !strcmp(k, "ccRecipients") ||
        !strcmp(k, "bccRecipients") || !strcmp(k, "replyTo")) {
      json_object *arr = json_object_new_array();
      for (size_t i = 0; i < json_object_array_length(v); i++)
        json_object_array_add(arr,
                              recipient_from(json_object_array_get_idx(v, i)));
      json_object_object_add(props, k, arr);
      continue;
    }
    if (!strcmp(k, "mentions"))
      continue; /* below, once "from" is known */
    if (!strcmp(k, "body") && json_object_is_type(v, json_type_string)) {
      json_object *b = json_object_new_object();
      json_object_object_add(b, "contentType", json_object_new_string("text"));
      json_object_object_add(b, "content", json_object_get(v));
      json_object_object_add(props, k, b);
      continue;
    }
    json_object_object_add(props, k, json_object_get(v));
  }
  if (json_object_object_get_ex(props, "from", NULL) &&
      !json_object_object_get_ex(props, "sender", NULL)) {
    json_object *fr = NULL;
    json_object_object_get_ex(props, "from", &fr);
    json_object_object_add(props, "sender", json_object_get(fr));
  }
  json_object *mj = NULL;
  if (json_object_object_get_ex(jm, "mentions", &mj)) {
    json_object *fr = NULL;
    json_object_object_get_ex(props, "from", &fr);
    json_object *list = mentions_from(mj, fr, mb->upn, err, errlen);
    if (list == NULL) {
      json_object_put(props);
      return -1;
    }
    json_object_object_add(props, "mentions", list);
  }
  emu_message *m = emu_message_add(s, f, props);
  for (size_t i = 0; atts && i < json_object_array_length(atts); i++) {
    json_object *a = json_object_array_get_idx(atts, i), *x = NULL;
    const char *name = "attachment", *ctype = NULL;
    if (json_object_object_get_ex(a, "name", &x))
      name = json_object_get_string(x);
    if (json_object_object_get_ex(a, "contentType", &x))
      ctype = json_object_get_string(x);
    size_t len = 0;
    unsigned char *bytes = NULL;
    if (json_object_object_get_ex(a, "contentBytes", &x)) {
      bytes = emu_base64_decode(json_object_get_string(x), &len);
      if (!bytes) {
        snprintf(err, errlen, "mailboxes[%s]: attachment '%s': bad base64",
                 mb->upn, name);
        return -1;
      }
    } else if (json_object_object_get_ex(a, "text", &x)) {
      bytes = (unsigned char *)strdup(json_object_get_string(x));
      len = strlen((char *)bytes);
    }
    emu_attachment_add_bytes(s, m, name, ctype, bytes ? (void *)bytes : "", len,
                             false, NULL);
    free(bytes);
  }
  return 0;
}

int emu_mailstore_load(emu_mailstore *s, json_object *boxes, char *err,
                       size_t errlen) {
  if (!json_object_is_type(boxes, json_type_array)) {
    snprintf(err, errlen, "\"mailboxes\" must be an array");
    return -1;
  }
  for (size_t i = 0; i < json_object_array_length(boxes); i++) {
    json_object *jb = json_object_array_get_idx(boxes, i), *x = NULL;
    const char *upn = NULL, *id = NULL, *name = NULL;
    if (json_object_object_get_ex(jb, "user", &x) ||
        json_object_object_get_ex(jb, "userPrincipalName", &x))
      upn = json_object_get_string(x);
    if (!upn) {
      snprintf(err, errlen, "mailboxes[%zu]: \"user\" (UPN) is required", i);
      return -1;
    }
    if (json_object_object_get_ex(jb, "id", &x))
      id = json_object_get_string(x);
    if (json_object_object_get_ex(jb, "displayName", &x))
      name = json_object_get_string(x);
    emu_mailbox *mb = emu_mailbox_add(s, id, upn, name);
    if (json_object_object_get_ex(jb, "shared", &x))
      mb->shared = json_object_get_boolean(x);
    if (json_object_object_get_ex(jb, "mailboxFull", &x))
      mb->full = json_object_get_boolean(x);
    if (json_object_object_get_ex(jb, "maxMessageSize", &x))
      mb->max_message_size = json_object_get_int64(x);
    if (json_object_object_get_ex(jb, "automaticRepliesSetting", &x)) {
      json_object_object_foreach(x, k, v) {
        json_object_object_add(mb->auto_replies, k, json_object_get(v));
      }
    }
    if (json_object_object_get_ex(jb, "masterCategories", &x)) {
      /* The tenant file's list replaces the default one. */
      json_object_put(mb->categories);
      mb->categories = json_object_new_array();
      for (size_t j = 0; j < json_object_array_length(x); j++) {
        json_object *jc = json_object_array_get_idx(x, j), *y = NULL;
        const char *cname = NULL, *color = "preset0";
        if (json_object_object_get_ex(jc, "displayName", &y))
          cname = json_object_get_string(y);
        if (json_object_object_get_ex(jc, "color", &y))
          color = json_object_get_string(y);
        if (!cname || !*cname) {
          snprintf(err, errlen,
                   "mailboxes[%s].masterCategories[%zu]: needs displayName",
                   upn, j);
          return -1;
        }
        emu_category_add(mb, cname, color);
      }
    }
    if (json_object_object_get_ex(jb, "folders", &x)) {
      for (size_t j = 0; j < json_object_array_length(x); j++) {
        json_object *jf = json_object_array_get_idx(x, j), *y = NULL;
        const char *fname = NULL, *parent = "msgfolderroot";
        if (json_object_object_get_ex(jf, "displayName", &y))
          fname = json_object_get_string(y);
        if (json_object_object_get_ex(jf, "parent", &y))
          parent = json_object_get_string(y);
        emu_folder *pf = emu_folder_seed_find(mb, parent);
        if (!fname || !pf) {
          snprintf(err, errlen,
                   "mailboxes[%s].folders[%zu]: needs displayName and a known "
                   "parent",
                   upn, j);
          return -1;
        }
        bool conflict;
        emu_folder_create(s, mb, pf, fname, false, &conflict);
      }
    }
    if (json_object_object_get_ex(jb, "messages", &x)) {
      for (size_t j = 0; j < json_object_array_length(x); j++)
        if (load_message(s, mb, json_object_array_get_idx(x, j), err, errlen) <
            0)
          return -1;
    }
  }
  return 0;
}
