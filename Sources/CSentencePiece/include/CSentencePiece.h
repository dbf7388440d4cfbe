#pragma once
// extern "C" shim over libsentencepiece (C++). C++ interop is viral to every Swift target that
// imports a C++ module, so the C++ stays in sentencepiece_shim.cpp and Swift sees only this.
//
// Conventions:
// - `spm_processor` is an opaque handle; it is immutable after loading, and the encode/decode
//   functions only call `const` methods of sentencepiece::SentencePieceProcessor, so one handle
//   may be used from several threads at once.
// - Every function that can fail takes `char **error`. On failure it returns NULL / a negative
//   value and sets `*error` to a malloc'd, NUL-terminated message (free it with
//   `spm_free_buffer`); on success `*error` is left NULL. No C++ exception crosses this boundary.
// - Buffers returned to the caller are malloc'd; free each with `spm_free_buffer`.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct spm_processor spm_processor;

/// Frees a buffer or message returned by any function below. NULL is allowed.
void spm_free_buffer(void *buffer);

// ---- Loading --------------------------------------------------------------------------------

/// Loads a `.model` file (a serialized ModelProto).
spm_processor *spm_load_file(const char *path, char **error);
/// Loads a model from its serialized bytes (the content of a `.model` file).
spm_processor *spm_load_bytes(const void *bytes, size_t length, char **error);
void spm_free(spm_processor *processor);

/// The serialized model (the bytes of a `.model` file). Returns NULL on failure.
char *spm_serialize(const spm_processor *processor, size_t *length, char **error);

// ---- Vocabulary -----------------------------------------------------------------------------

int32_t spm_vocab_size(const spm_processor *processor);
/// Special ids; -1 when the model does not define one.
int32_t spm_unk_id(const spm_processor *processor);
int32_t spm_bos_id(const spm_processor *processor);
int32_t spm_eos_id(const spm_processor *processor);
int32_t spm_pad_id(const spm_processor *processor);

/// The id of `piece` (bytes, not NUL-terminated), or -1 when the vocabulary has no such piece
/// (the library itself would answer the unknown id).
int32_t spm_piece_to_id(const spm_processor *processor, const char *piece, size_t length);
/// The piece of `id`, pointing into the model (valid while the handle lives), or NULL when `id`
/// is out of range.
const char *spm_id_to_piece(const spm_processor *processor, int32_t id, size_t *length);

/// Kinds of vocabulary entries (ModelProto.SentencePiece.Type). The public C++ API cannot tell a
/// user-defined symbol from a normal piece, so both are SPM_PIECE_NORMAL.
enum {
    SPM_PIECE_NORMAL = 1,
    SPM_PIECE_UNKNOWN = 2,
    SPM_PIECE_CONTROL = 3,
    SPM_PIECE_UNUSED = 5,
    SPM_PIECE_BYTE = 6,
};
/// The kind of `id` (one of SPM_PIECE_*), or -1 when `id` is out of range.
int32_t spm_piece_type(const spm_processor *processor, int32_t id);

// ---- Encoding and decoding ------------------------------------------------------------------

/// Encodes UTF-8 `text` (`length` bytes) to ids. On success returns 0 and sets `*ids` (malloc'd,
/// may be NULL when `*count` is 0) and `*count`.
int spm_encode_ids(const spm_processor *processor, const char *text, size_t length,
                   int32_t **ids, size_t *count, char **error);

/// Encodes `text` to pieces. On success returns 0; `*bytes` holds the pieces back to back and
/// `*lengths[i]` the byte length of piece i (both malloc'd), `*count` the number of pieces.
int spm_encode_pieces(const spm_processor *processor, const char *text, size_t length,
                      char **bytes, size_t **lengths, size_t *count, char **error);

/// Decodes ids to UTF-8 text. Every id must be in [0, vocab size) (checked: the library indexes
/// its piece table without a check). Returns the malloc'd text (`*length` bytes, also
/// NUL-terminated) or NULL on failure.
char *spm_decode_ids(const spm_processor *processor, const int32_t *ids, size_t count,
                     size_t *length, char **error);

// ---- Training -------------------------------------------------------------------------------

/// One trainer flag, as `spm_train` on the command line spells it without the dashes
/// (e.g. {"vocab_size", "8000"}, {"input", "a.txt,b.txt"}).
typedef struct {
    const char *key;
    const char *value;
} spm_train_flag;

/// Trains a model and returns its serialized bytes (malloc'd, `*length` bytes), or NULL on
/// failure. Sentences come from `sentences` (`sentence_count` strings of `sentence_lengths[i]`
/// bytes) when `sentences` is not NULL, else from the files of the "input" flag.
/// `seed` seeds the library's random generator (global state, so training calls are serialized
/// by a lock). `quiet` silences the trainer's INFO log on stderr for the duration of the call.
char *spm_train(const spm_train_flag *flags, size_t flag_count,
                const char *const *sentences, const size_t *sentence_lengths,
                size_t sentence_count, uint32_t seed, int quiet,
                size_t *length, char **error);

#ifdef __cplusplus
}
#endif
