/* cards.c - see cards.h. One line per card, in the order the host lists
 * them. The descriptors live in cards/<id>.c (and consent.c for
 * admin_consent_url). */
#include "cards.h"

#include "entry.h"

#define O365_CARDS(X)                                                          \
  X(admin_consent_url)                                                         \
  X(list_folders)                                                              \
  X(create_folder)                                                             \
  X(list_attachments)                                                          \
  X(add_attachment)                                                            \
  X(download_attachment)                                                       \
  X(get_mail_tips)                                                             \
  X(set_automatic_replies)                                                     \
  X(custom_api_action)                                                         \
  X(copy_email)                                                                \
  X(create_draft)                                                              \
  X(delete_email)                                                              \
  X(export_email)                                                              \
  X(flag_email)                                                                \
  X(forward_email)                                                             \
  X(get_message)                                                               \
  X(mark_read)                                                                 \
  X(move_email)                                                                \
  X(new_email)                                                                 \
  X(email_flagged)                                                             \
  X(new_email_mentioning_me)                                                   \
  X(reply_email)                                                               \
  X(search_emails)                                                             \
  X(send_draft)                                                                \
  X(send_email)                                                                \
  X(set_categories)                                                            \
  X(update_draft)                                                              \
  X(get_folder)                                                                \
  X(rename_folder)                                                             \
  X(delete_folder)                                                             \
  X(list_categories)                                                           \
  X(get_messages)                                                              \
  X(update_messages)

#define O365_DECLARE_CARD(id) extern const wfc_card_desc o365_card_##id;
O365_CARDS(O365_DECLARE_CARD)
#undef O365_DECLARE_CARD

const wfc_card_desc *const o365_cards[] = {
#define O365_CARD_ENTRY(id) &o365_card_##id,
    O365_CARDS(O365_CARD_ENTRY)
#undef O365_CARD_ENTRY
        NULL};

int o365_cards_register(wfc_registrar *reg, wfc_error *err) {
  for (size_t i = 0; o365_cards[i] != NULL; i++) {
    int rc = o365_api->register_card(reg, o365_cards[i], sizeof *o365_cards[i]);
    if (rc != 0) {
      o365_api->error_set(err, rc, "registering card %s failed",
                          o365_cards[i]->id);
      return rc;
    }
  }
  return 0;
}
