/* bits_folder.h - folder sets on Windows (design §2a): the bits backend's
 * list_folder and fetch_small, with the Win32 file API as the service
 * (FindFirstFileExW, CreateFileW), for UNC and local folders. */
#ifndef BITSYNC_BITS_FOLDER_H
#define BITSYNC_BITS_FOLDER_H

#include "backend.h"

int bits_folder_list(struct backend *b, const struct bk_list *req,
    struct bk_listing *out, struct bk_error *err);
int bits_folder_fetch(struct backend *b, const struct bk_probe *p,
    size_t max, char **buf, size_t *len, struct bk_error *err);

#endif
