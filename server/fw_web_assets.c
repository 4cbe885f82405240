/* fw_web_assets: lookup in the generated table of console assets (see fw_web_assets.h). */
#include "fw_web_assets.h"

#include <string.h>

const fw_web_asset *fw_web_asset_find(const char *path)
{
    if (!path)
        return NULL;
    if (strcmp(path, "/") == 0)
        path = "/index.html";
    for (size_t i = 0; i < fw_web_assets_count; i++)
        if (strcmp(fw_web_assets[i].path, path) == 0)
            return &fw_web_assets[i];
    return NULL;
}
