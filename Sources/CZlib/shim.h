// zlib for reading gzip-compressed Amazon review dumps (Corpora only).
#include <zlib.h>
