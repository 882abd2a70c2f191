/* wfc/common.h - export macro shared by the public headers. */
#ifndef WFC_COMMON_H
#define WFC_COMMON_H

/* The SDK library is built with hidden visibility; WFC_EXTERN marks its
 * public functions. */
#define WFC_EXTERN __attribute__((visibility("default")))

#endif
