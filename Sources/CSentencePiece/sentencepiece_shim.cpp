// extern "C" shim over libsentencepiece (Debian libsentencepiece-dev 0.1.97). See the header for
// the conventions. Every entry point catches all C++ exceptions and turns them, like failed
// util::Status values, into malloc'd error messages.
#include "CSentencePiece.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

// The library exports these (logging.h is not installed); used to silence the trainer's INFO log
// for one call and restore the previous level afterwards.
namespace sentencepiece {
namespace logging {
int GetMinLogLevel();
void SetMinLogLevel(int v);
}  // namespace logging
}  // namespace sentencepiece

struct spm_processor {
    sentencepiece::SentencePieceProcessor processor;
};

namespace {

char *copy_bytes(const char *data, size_t length) {
    // One extra byte so text results are also NUL-terminated for convenience.
    char *out = static_cast<char *>(std::malloc(length + 1));
    if (out == nullptr) return nullptr;
    if (length > 0) std::memcpy(out, data, length);
    out[length] = '\0';
    return out;
}

void set_error(char **error, const std::string &message) {
    if (error != nullptr) *error = copy_bytes(message.data(), message.size());
}

void clear_error(char **error) {
    if (error != nullptr) *error = nullptr;
}

// Runs `body`, converting any exception to an error message. Returns false on exception.
template <typename Body>
bool guarded(char **error, Body body) {
    try {
        body();
        return true;
    } catch (const sentencepiece::util::Status &status) {
        // The library's *OrDie helpers throw Status; we never call them, but be safe.
        set_error(error, status.ToString());
    } catch (const std::bad_alloc &) {
        set_error(error, "out of memory");
    } catch (const std::exception &exception) {
        set_error(error, std::string("C++ exception: ") + exception.what());
    } catch (...) {
        set_error(error, "unknown C++ exception");
    }
    return false;
}

// Sentences held by the caller, handed to the trainer one at a time.
class BufferSentenceIterator : public sentencepiece::SentenceIterator {
   public:
    BufferSentenceIterator(const char *const *sentences, const size_t *lengths, size_t count)
        : sentences_(sentences), lengths_(lengths), count_(count) {
        load();
    }
    bool done() const override { return index_ >= count_; }
    void Next() override {
        ++index_;
        load();
    }
    const std::string &value() const override { return value_; }
    sentencepiece::util::Status status() const override { return sentencepiece::util::Status(); }

   private:
    void load() {
        if (index_ < count_) value_.assign(sentences_[index_], lengths_[index_]);
    }
    const char *const *sentences_;
    const size_t *lengths_;
    size_t count_;
    size_t index_ = 0;
    std::string value_;
};

// The trainer's random seed and log level are process-wide, so training calls take turns.
std::mutex training_mutex;

}  // namespace

extern "C" {

void spm_free_buffer(void *buffer) { std::free(buffer); }

spm_processor *spm_load_file(const char *path, char **error) {
    clear_error(error);
    spm_processor *result = nullptr;
    guarded(error, [&] {
        auto handle = std::make_unique<spm_processor>();
        const auto status = handle->processor.Load(path);
        if (!status.ok()) {
            set_error(error, status.ToString());
            return;
        }
        result = handle.release();
    });
    return result;
}

spm_processor *spm_load_bytes(const void *bytes, size_t length, char **error) {
    clear_error(error);
    spm_processor *result = nullptr;
    guarded(error, [&] {
        auto handle = std::make_unique<spm_processor>();
        const auto status = handle->processor.LoadFromSerializedProto(
            std::string_view(static_cast<const char *>(bytes), length));
        if (!status.ok()) {
            set_error(error, status.ToString());
            return;
        }
        result = handle.release();
    });
    return result;
}

void spm_free(spm_processor *processor) { delete processor; }

char *spm_serialize(const spm_processor *processor, size_t *length, char **error) {
    clear_error(error);
    char *result = nullptr;
    guarded(error, [&] {
        const std::string bytes = processor->processor.serialized_model_proto();
        if (bytes.empty()) {
            set_error(error, "the model is empty (not loaded)");
            return;
        }
        result = copy_bytes(bytes.data(), bytes.size());
        if (result == nullptr) {
            set_error(error, "out of memory");
            return;
        }
        *length = bytes.size();
    });
    return result;
}

int32_t spm_vocab_size(const spm_processor *processor) {
    return processor->processor.GetPieceSize();
}
int32_t spm_unk_id(const spm_processor *processor) { return processor->processor.unk_id(); }
int32_t spm_bos_id(const spm_processor *processor) { return processor->processor.bos_id(); }
int32_t spm_eos_id(const spm_processor *processor) { return processor->processor.eos_id(); }
int32_t spm_pad_id(const spm_processor *processor) { return processor->processor.pad_id(); }

int32_t spm_piece_to_id(const spm_processor *processor, const char *piece, size_t length) {
    try {
        const std::string_view key(piece, length);
        const int id = processor->processor.PieceToId(key);
        // PieceToId answers the unknown id for pieces it does not have; tell the two apart.
        if (id < 0) return -1;
        if (processor->processor.IsUnknown(id) && processor->processor.IdToPiece(id) != key) {
            return -1;
        }
        return id;
    } catch (...) {
        return -1;
    }
}

const char *spm_id_to_piece(const spm_processor *processor, int32_t id, size_t *length) {
    try {
        if (id < 0 || id >= processor->processor.GetPieceSize()) return nullptr;
        const std::string &piece = processor->processor.IdToPiece(id);
        *length = piece.size();
        return piece.data();
    } catch (...) {
        return nullptr;
    }
}

int32_t spm_piece_type(const spm_processor *processor, int32_t id) {
    try {
        const auto &p = processor->processor;
        if (id < 0 || id >= p.GetPieceSize()) return -1;
        if (p.IsUnknown(id)) return SPM_PIECE_UNKNOWN;
        if (p.IsControl(id)) return SPM_PIECE_CONTROL;
        if (p.IsUnused(id)) return SPM_PIECE_UNUSED;
        if (p.IsByte(id)) return SPM_PIECE_BYTE;
        return SPM_PIECE_NORMAL;
    } catch (...) {
        return -1;
    }
}

int spm_encode_ids(const spm_processor *processor, const char *text, size_t length,
                   int32_t **ids, size_t *count, char **error) {
    clear_error(error);
    *ids = nullptr;
    *count = 0;
    int rc = -1;
    guarded(error, [&] {
        std::vector<int> result;
        const auto status = processor->processor.Encode(std::string_view(text, length), &result);
        if (!status.ok()) {
            set_error(error, status.ToString());
            return;
        }
        if (!result.empty()) {
            static_assert(sizeof(int) == sizeof(int32_t), "int must be 32 bits");
            auto *out = static_cast<int32_t *>(std::malloc(result.size() * sizeof(int32_t)));
            if (out == nullptr) {
                set_error(error, "out of memory");
                return;
            }
            std::memcpy(out, result.data(), result.size() * sizeof(int32_t));
            *ids = out;
        }
        *count = result.size();
        rc = 0;
    });
    return rc;
}

int spm_encode_pieces(const spm_processor *processor, const char *text, size_t length,
                      char **bytes, size_t **lengths, size_t *count, char **error) {
    clear_error(error);
    *bytes = nullptr;
    *lengths = nullptr;
    *count = 0;
    int rc = -1;
    guarded(error, [&] {
        std::vector<std::string> pieces;
        const auto status =
            processor->processor.Encode(std::string_view(text, length), &pieces);
        if (!status.ok()) {
            set_error(error, status.ToString());
            return;
        }
        size_t total = 0;
        for (const auto &piece : pieces) total += piece.size();
        char *joined = static_cast<char *>(std::malloc(total + 1));
        auto *sizes = static_cast<size_t *>(std::malloc((pieces.size() + 1) * sizeof(size_t)));
        if (joined == nullptr || sizes == nullptr) {
            std::free(joined);
            std::free(sizes);
            set_error(error, "out of memory");
            return;
        }
        size_t offset = 0;
        for (size_t i = 0; i < pieces.size(); ++i) {
            std::memcpy(joined + offset, pieces[i].data(), pieces[i].size());
            offset += pieces[i].size();
            sizes[i] = pieces[i].size();
        }
        joined[total] = '\0';
        *bytes = joined;
        *lengths = sizes;
        *count = pieces.size();
        rc = 0;
    });
    return rc;
}

char *spm_decode_ids(const spm_processor *processor, const int32_t *ids, size_t count,
                     size_t *length, char **error) {
    clear_error(error);
    char *result = nullptr;
    guarded(error, [&] {
        const int size = processor->processor.GetPieceSize();
        std::vector<int> input(count);
        for (size_t i = 0; i < count; ++i) {
            if (ids[i] < 0 || ids[i] >= size) {
                set_error(error, "id " + std::to_string(ids[i]) + " at position " +
                                     std::to_string(i) + " is outside the vocabulary [0, " +
                                     std::to_string(size) + ")");
                return;
            }
            input[i] = ids[i];
        }
        std::string text;
        const auto status = processor->processor.Decode(input, &text);
        if (!status.ok()) {
            set_error(error, status.ToString());
            return;
        }
        result = copy_bytes(text.data(), text.size());
        if (result == nullptr) {
            set_error(error, "out of memory");
            return;
        }
        *length = text.size();
    });
    return result;
}

char *spm_train(const spm_train_flag *flags, size_t flag_count, const char *const *sentences,
                const size_t *sentence_lengths, size_t sentence_count, uint32_t seed, int quiet,
                size_t *length, char **error) {
    clear_error(error);
    char *result = nullptr;
    guarded(error, [&] {
        std::unordered_map<std::string, std::string> kwargs;
        for (size_t i = 0; i < flag_count; ++i) kwargs[flags[i].key] = flags[i].value;

        std::lock_guard<std::mutex> lock(training_mutex);
        const int previous_level = sentencepiece::logging::GetMinLogLevel();
        // Level 1 hides INFO (the trainer's spec dump and progress), keeps warnings and errors.
        if (quiet) sentencepiece::logging::SetMinLogLevel(1);
        struct RestoreLevel {
            int level;
            ~RestoreLevel() { sentencepiece::logging::SetMinLogLevel(level); }
        } restore{previous_level};
        sentencepiece::SetRandomGeneratorSeed(seed);

        std::unique_ptr<BufferSentenceIterator> iterator;
        if (sentences != nullptr) {
            iterator = std::make_unique<BufferSentenceIterator>(sentences, sentence_lengths,
                                                                sentence_count);
        }
        std::string model;
        const auto status =
            sentencepiece::SentencePieceTrainer::Train(kwargs, iterator.get(), &model);
        if (!status.ok()) {
            set_error(error, status.ToString());
            return;
        }
        if (model.empty()) {
            set_error(error, "the trainer returned an empty model");
            return;
        }
        result = copy_bytes(model.data(), model.size());
        if (result == nullptr) {
            set_error(error, "out of memory");
            return;
        }
        *length = model.size();
    });
    return result;
}

}  // extern "C"
