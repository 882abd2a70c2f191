/* Private to the Graph mail module (emulator/graph_*.c, mime.c).
 * Handlers run under the emulator's global lock (emu.h), which
 * also guards the mail store. */
#ifndef EMU_GRAPH_PRIV_H
#define EMU_GRAPH_PRIV_H

#include "emu.h"
#include "mailstore.h"
#include "odata.h"

#include <stdbool.h>

/* What a request needs from the token and the mailbox rights. */
enum graph_need {
  GRAPH_READ,     /* Mail.Read(.Shared) or Mail.ReadWrite(.Shared) */
  GRAPH_WRITE,    /* Mail.ReadWrite(.Shared) */
  GRAPH_SEND,     /* Mail.Send(.Shared) */
  GRAPH_SETTINGS, /* MailboxSettings.Read(Write) */
  GRAPH_SETTINGS_WRITE,
};

typedef struct graph_ctx {
  emu_req *r;
  emu_mailbox *mb;           /* the addressed mailbox */
  const emu_user *caller;    /* signed-in user; NULL for app-only tokens */
  char app[64];              /* client id of the token */
  bool own;                  /* mb is the caller's own mailbox */
  bool send_as;              /* caller may send as mb */
  bool immutable;            /* Prefer: IdType="ImmutableId" */
  bool expand_attachments;   /* $expand=attachments */
  bool text_applied;         /* Preference-Applied sent for the body type */
  char user_ref[EMU_ID_MAX]; /* "users('<id>')" for @odata.context */
} graph_ctx;

/* The store (one per emulator; rebuilt on reset). */
emu_mailstore *graph_store(void);

/* Authenticates, resolves {user} or /me, checks scopes and mailbox rights,
 * enters throttling. 0, or -1 with the response already set. */
int graph_begin(emu_req *r, enum graph_need need, graph_ctx *c);

/* Registers `suffix` for both "/v1.0/me" and "/v1.0/users/{user}". */
void graph_route(const char *method, const char *suffix, emu_handler_fn fn,
                 unsigned flags);

/* Answers 404 ErrorItemNotFound (Graph's words for any missing item). */
void graph_not_found(graph_ctx *c);

/* Message / folder lookups that answer 404 ErrorItemNotFound themselves. */
emu_message *graph_message(graph_ctx *c, const char *id);
emu_folder *graph_folder(graph_ctx *c, const char *id);
/* The message named by the path's {id}, checked to be in {folder} when the
 * path has one (.../mailFolders/{folder}/messages/{id}). */
emu_message *graph_path_message(graph_ctx *c);
/* graph_begin, then graph_path_message: the message, or NULL with the
 * response already set (a handler's usual start). */
emu_message *graph_begin_message(emu_req *r, enum graph_need need,
                                 graph_ctx *c);

/* "<base>/{v1.0|beta}/$metadata#users('id')/<what>" absolute context URL
 * (malloc'd), in the request's version. */
char *graph_context_url(graph_ctx *c, const char *what);

/* Request body as a JSON object; answers 400 itself when absent/invalid. */
json_object *graph_body_object(graph_ctx *c);

/* Validates a message JSON (request body). mode: 0 create/send, 1 PATCH.
 * 0, or -1 after answering 400 RequestBodyRead / ErrorInvalid... */
int graph_validate_message(graph_ctx *c, json_object *msg, int mode);

/* Writable properties of a validated message body (new object; read-only
 * properties and attachments dropped). */
json_object *graph_writable_props(json_object *msg);

/* Adds the fileAttachments of a validated message body to m. 0, or -1
 * after answering 400. */
int graph_add_inline_attachments(graph_ctx *c, emu_message *m,
                                 json_object *msg);

/* Recipient check: "At least one recipient isn't valid" etc. */
bool graph_address_valid(const char *addr);

/* Message JSON with the request's id flavour and Prefer body type. */
json_object *graph_message_json(graph_ctx *c, const emu_message *m);

/* Builds a list response: filter/order/page `items` (array of full JSON,
 * borrowed) with the request's query options; answers itself. */
void graph_reply_collection(graph_ctx *c, json_object *items,
                            const char *context_what, const char *const *props);

/* Delivery: puts a copy of `props` into every tenant recipient's Inbox,
 * and into the sender's Sent Items when save_sent. Records the send. */
void graph_deliver(graph_ctx *c, emu_message *draft_or_null, json_object *props,
                   bool save_sent);

/* MIME (RFC 5322) rendering of a message into a temp file; returns an open
 * fd positioned at 0 and the size, or -1. */
int emu_mime_render(const emu_message *m, int64_t *size);

/* Whether mb's automatic replies are on now (virtual time). */
bool graph_auto_replies_on(emu_mailbox *mb);

/* Minimal RFC 5322 parse (Subject, From, To, Cc, Bcc, text body) into
 * Graph message properties (new object), NULL when not a message. */
json_object *emu_mime_parse(const char *mime, size_t len);

/* Sub-modules' route registration. */
void graph_messages_init(void);
void graph_folders_init(void);
void graph_attach_init(void);
void graph_delta_init(void);
void graph_settings_init(void);
void graph_admin_init(void);
void graph_batch_init(void);
void graph_beta_init(void);

#endif
