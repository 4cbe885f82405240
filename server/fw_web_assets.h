/*
 * fw_web_assets: the web console, built into the binary.
 *
 * scripts/embed-assets.py turns web/ (and uPlot from node_modules) into a generated C file with
 * one table entry per file; the server's static handler serves them from memory, so the console
 * needs no files, no CDN and no network access at run time.
 */
#ifndef FW_WEB_ASSETS_H
#define FW_WEB_ASSETS_H

#include <stddef.h>

typedef struct {
    const char *path;            /* URL path: "/index.html", "/assets/src/main.js" */
    const char *content_type;
    const unsigned char *bytes;
    size_t length;
} fw_web_asset;

/* The asset for a URL path ("/" means "/index.html"); NULL if there is none. */
const fw_web_asset *fw_web_asset_find(const char *path);

/* The generated table (build/gen/fw_web_assets_data.c). */
extern const fw_web_asset fw_web_assets[];
extern const size_t fw_web_assets_count;

#endif
