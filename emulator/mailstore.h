/* In-memory Exchange-like mail store for the emulator: mailboxes, folders
 * (well-known and user-made), messages as Graph JSON, attachments on disk,
 * a change sequence for delta queries, and attachment upload sessions.
 *
 * Threading: no internal locking per object. In the emulator every Graph
 * handler runs under the global emulator lock (emu.h), which guards the
 * store; emu_mailstore_lock() is for other users (e.g. tools, unit tests
 * with threads). Attachment bytes live in files under the store's
 * directory, so a 150 MB attachment never sits in memory. */
#ifndef EMU_MAILSTORE_H
#define EMU_MAILSTORE_H

#include <json-c/json.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EMU_ID_MAX 160

typedef struct emu_mailstore emu_mailstore;
typedef struct emu_mailbox emu_mailbox;
typedef struct emu_folder emu_folder;
typedef struct emu_message emu_message;

typedef struct emu_attachment {
  char id[EMU_ID_MAX];
  char *name, *content_type, *content_id; /* owned */
  bool is_inline;
  int64_t size;
  char *path; /* owned: file holding the bytes (immutable once written) */
  char modified[32];
} emu_attachment;

struct emu_message {
  char id[EMU_ID_MAX];           /* changes on move/copy */
  char immutable_id[EMU_ID_MAX]; /* survives move */
  emu_folder *folder;            /* borrowed back-pointer */
  json_object *props;            /* owned: Graph fields except computed ones */
  emu_attachment **atts;         /* owned */
  size_t natts;
  uint64_t seq;  /* store-wide change sequence of the last change */
  uint64_t cseq; /* sequence at which it entered its folder (delta) */
};

typedef struct emu_tombstone {
  char id[EMU_ID_MAX];
  char immutable_id[EMU_ID_MAX];
  uint64_t seq;
} emu_tombstone;

struct emu_folder {
  char id[EMU_ID_MAX];
  char wellknown[32]; /* "" for user folders */
  char *display_name; /* owned */
  bool hidden;
  emu_folder *parent; /* NULL for msgfolderroot */
  emu_mailbox *mailbox;
  emu_message **msgs; /* owned */
  size_t nmsgs, capmsgs;
  emu_tombstone *tombs; /* owned: moved-out / deleted, for delta */
  size_t ntombs;
};

typedef struct emu_sent_record {
  char *subject; /* owned */
  char *internet_message_id;
  int recipients;
} emu_sent_record;

struct emu_mailbox {
  char *user_id, *upn, *display_name; /* owned */
  bool shared;                        /* a shared mailbox (no sign-in) */
  emu_folder **folders;               /* owned, [0] is msgfolderroot */
  size_t nfolders;
  json_object *auto_replies; /* owned automaticRepliesSetting */
  json_object *categories;   /* owned: master list, [outlookCategory] */
  int64_t max_message_size;
  bool full; /* mailboxFull for getMailTips */
  unsigned sent_count;
  emu_sent_record *sent; /* owned log of send/sendMail, newest last */
  size_t nsent;
};

typedef struct emu_upload {
  char token[64];
  emu_mailbox *mailbox;
  char message_id[EMU_ID_MAX]; /* immutable id of the target message */
  char *name, *content_type, *content_id;
  bool is_inline;
  int64_t size, next; /* bytes expected, next expected offset */
  char *path;         /* owned temp file */
  int64_t expires;    /* ms since epoch */
  bool busy;          /* a PUT is streaming into it */
} emu_upload;

struct emu_mailstore {
  pthread_mutex_t mu;
  char *dir; /* owned temp dir for attachment files */
  bool own_dir;
  emu_mailbox **boxes;
  size_t nboxes;
  emu_upload **uploads;
  size_t nuploads;
  uint64_t seq;
  uint64_t file_counter;
  int64_t (*now_ms)(void); /* clock; emu_now() in the server */
};

/* Store lifecycle. dir: where attachment files go (NULL: mkdtemp under
 * $TMPDIR, removed on free). */
emu_mailstore *emu_mailstore_new(const char *dir);
void emu_mailstore_free(emu_mailstore *s);
void emu_mailstore_lock(emu_mailstore *s);
void emu_mailstore_unlock(emu_mailstore *s);
void emu_mailstore_set_clock(emu_mailstore *s, int64_t (*now_ms)(void));
/* "2024-05-01T10:00:00Z" for the store's clock. buf >= 32 bytes. */
void emu_mailstore_now_iso(emu_mailstore *s, char *buf);

/* Loads the tenant file's "mailboxes" section (see docs/emulator.md). */
int emu_mailstore_load(emu_mailstore *s, json_object *mailboxes, char *err,
                       size_t errlen);

/* Mailboxes, found by user id or UPN (case-insensitive). */
emu_mailbox *emu_mailbox_add(emu_mailstore *s, const char *user_id,
                             const char *upn, const char *display_name);
emu_mailbox *emu_mailbox_find(emu_mailstore *s, const char *id_or_upn);

/* Folders, by id or well-known name (case-insensitive). */
emu_folder *emu_folder_find(emu_mailbox *mb, const char *id_or_name);
/* Appends {"id" (new GUID),"displayName","color"} to mb's master
 * category list. */
void emu_category_add(emu_mailbox *mb, const char *name, const char *color);

/* A folder as seeds name it (the tenant file, the admin API's injected
 * messages): id, well-known name, or display name (case-insensitive). */
emu_folder *emu_folder_seed_find(emu_mailbox *mb, const char *key);
/* NULL and *conflict=true when a sibling has the same name. */
emu_folder *emu_folder_create(emu_mailstore *s, emu_mailbox *mb,
                              emu_folder *parent, const char *name, bool hidden,
                              bool *conflict);
json_object *emu_folder_to_json(const emu_folder *f);
size_t emu_folder_child_count(const emu_folder *f);
/* Deletes the folder, its children and messages (tombstoned). */
void emu_folder_delete(emu_mailstore *s, emu_folder *f);

/* Messages. `props` is taken over (transferred). */
emu_message *emu_message_add(emu_mailstore *s, emu_folder *f,
                             json_object *props);
emu_message *emu_message_find(emu_mailbox *mb, const char *id);
/* Full Graph JSON (new object). immutable: expose immutable ids as "id". */
json_object *emu_message_to_json(const emu_message *m, bool immutable);
/* Call after changing m->props: bumps changeKey, lastModified, seq. */
void emu_message_touch(emu_mailstore *s, emu_message *m);
void emu_message_delete(emu_mailstore *s, emu_message *m);
/* Move gives a new id (the immutable id stays); copy gives new ids. */
emu_message *emu_message_move(emu_mailstore *s, emu_message *m,
                              emu_folder *dst);
emu_message *emu_message_copy(emu_mailstore *s, emu_message *m,
                              emu_folder *dst);

/* Attachments. Bytes come from memory or an existing file (moved in). */
emu_attachment *emu_attachment_add_bytes(emu_mailstore *s, emu_message *m,
                                         const char *name, const char *ctype,
                                         const void *data, size_t len,
                                         bool is_inline,
                                         const char *content_id);
emu_attachment *emu_attachment_add_file(emu_mailstore *s, emu_message *m,
                                        const char *name, const char *ctype,
                                        const char *path, int64_t size,
                                        bool is_inline, const char *content_id);
emu_attachment *emu_attachment_find(emu_message *m, const char *id);
void emu_attachment_delete(emu_mailstore *s, emu_message *m, emu_attachment *a);
/* Graph JSON; with_bytes adds contentBytes (base64, read from disk). */
json_object *emu_attachment_to_json(const emu_attachment *a, bool with_bytes);

/* Upload sessions (createUploadSession). */
emu_upload *emu_upload_new(emu_mailstore *s, emu_mailbox *mb, emu_message *m,
                           const char *name, const char *ctype, int64_t size,
                           bool is_inline, const char *content_id);
emu_upload *emu_upload_find(emu_mailstore *s, const char *token);
void emu_upload_remove(emu_mailstore *s, emu_upload *u);

/* Delta: messages of f changed after `since` and tombstones, by seq. */
uint64_t emu_mailstore_seq(const emu_mailstore *s);

/* Record a send (for the admin "what was sent" view). */
void emu_mailbox_record_send(emu_mailbox *mb, const char *subject,
                             const char *imid, int recipients);

/* Opaque Graph-like id: "AAMkA" + base64url. buf >= EMU_ID_MAX. */
void emu_mailstore_new_id(char *buf, const char *prefix);
/* base64 helpers (standard alphabet with padding). Caller frees. */
char *emu_base64_encode(const unsigned char *data, size_t len);
unsigned char *emu_base64_decode(const char *text, size_t *len);

#endif
