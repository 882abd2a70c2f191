/* cards.h - the table of every card the plugin registers.
 *
 * Adding a card: write cards/<id>.c defining
 *   const wfc_card_desc o365_card_<id> = {...};
 * and add one line X(<id>) to O365_CARDS in plugin/cards.c. */
#ifndef O365_CARDS_H
#define O365_CARDS_H

#include <stddef.h>

#include <wfc/plugin.h>

/* NULL-terminated, static. */
extern const wfc_card_desc *const o365_cards[];

/* Registers every card of the table. 0 or the first error (err set). */
int o365_cards_register(wfc_registrar *reg, wfc_error *err);

#endif
