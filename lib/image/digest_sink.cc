// DigestSink: partial chunks are assembled in a buffer (zeros where nothing
// was written); runs of whole chunks are hashed straight from the caller's
// buffer, on the hasher's threads, before the inner sink writes them, which
// is told what the hashing found (ImageSink::KnowChunks).
//
// Metadata exports write many lone blocks, each in a chunk of its own: the
// buffer is therefore cleared by zeroing only what was written into it, and
// a chunk is known to be non-zero from the bytes written, not by scanning
// all 64 KiB.
#include "lib/image/digest_sink.h"
#include "lib/base/is_zero.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace e2q::image {

namespace {

// Fewer whole chunks than this are hashed on the calling thread: waking a
// helper costs more than hashing a few 64 KiB chunks.
constexpr size_t kMinParallelChunks = 4;

class DigestSink : public ImageSink {
 public:
  DigestSink(ImageSink* inner, uint64_t guest_size,
             std::unique_ptr<ChunkHasher> hasher, DigestReady on_digest)
      : inner_(inner),
        digest_(guest_size),
        hasher_(std::move(hasher)),
        on_digest_(std::move(on_digest)),
        cur_(kDigestChunkSize, 0) {}

  Status Write(uint64_t offset, const uint8_t* data, size_t len) override {
    if (len == 0) return inner_->Write(offset, data, len);
    // The part before the first chunk boundary, into the partial chunk.
    size_t head = std::min<uint64_t>(
        len, kDigestChunkSize - (offset & (kDigestChunkSize - 1)));
    if (head == kDigestChunkSize) head = 0;  // starts on a boundary
    if (head > 0) Accumulate(offset, data, head);
    const size_t whole = (len - head) / kDigestChunkSize;
    const uint64_t whole_at = offset + head;
    const uint8_t* whole_data = data + head;
    if (whole > 0) FlushCur();
    Status s;
    if (whole > 0) {
      // Hashed first, so that the inner sink learns which chunks are zero
      // and (a qcow2 writer sharing 64 KiB clusters) their hashes, instead
      // of scanning and hashing the same bytes again.
      const std::vector<ChunkHasher::Slot>* slots = &small_;
      if (whole >= kMinParallelChunks) {
        hasher_->Start(whole_data, whole);
        slots = &hasher_->Wait();
      } else {
        small_.resize(whole);
        for (size_t k = 0; k < whole; ++k) {
          small_[k].nonzero =
              HashChunk(whole_data + k * kDigestChunkSize, &small_[k].hash);
        }
      }
      const uint64_t first = whole_at >> kDigestChunkBits;
      for (size_t k = 0; k < whole; ++k) {
        if ((*slots)[k].nonzero) digest_.Add(first + k, (*slots)[k].hash);
      }
      inner_->KnowChunks(whole_at, slots->data(), whole);
    }
    s = inner_->Write(offset, data, len);
    const size_t tail = len - head - whole * kDigestChunkSize;
    if (tail > 0) {
      Accumulate(whole_at + whole * kDigestChunkSize,
                 whole_data + whole * kDigestChunkSize, tail);
    }
    return s;
  }

  Status Finish() override {
    FlushCur();
    E2Q_RETURN_IF_ERROR(on_digest_(digest_.Final()));
    return inner_->Finish();
  }

 private:
  // Copies bytes that lie within one chunk into the partial-chunk buffer,
  // completing the previous chunk first when this is another one.
  void Accumulate(uint64_t offset, const uint8_t* data, size_t len) {
    const uint64_t index = offset >> kDigestChunkBits;
    if (have_cur_ && index != cur_index_) FlushCur();
    if (!have_cur_) {
      cur_index_ = index;
      have_cur_ = true;
    }
    const size_t at = offset & (kDigestChunkSize - 1);
    if (!IsZero(data, len)) {
      std::memcpy(cur_.data() + at, data, len);
      cur_nonzero_ = true;
      written_lo_ = std::min(written_lo_, at);
      written_hi_ = std::max(written_hi_, at + len);
    } else if (at < written_hi_ && at + len > written_lo_) {
      std::memset(cur_.data() + at, 0, len);  // zeros over earlier bytes
      zeroed_over_ = true;
    }
  }

  void FlushCur() {
    if (!have_cur_) return;
    have_cur_ = false;
    if (!cur_nonzero_) return;
    if (!zeroed_over_) {
      digest_.Add(cur_index_, HashNonZeroChunk(cur_.data()));
    } else {
      // Zeros were written over earlier bytes: the chunk may be all zeros.
      Digest128 h;
      if (HashChunk(cur_.data(), &h)) digest_.Add(cur_index_, h);
    }
    std::memset(cur_.data() + written_lo_, 0, written_hi_ - written_lo_);
    cur_nonzero_ = false;
    zeroed_over_ = false;
    written_lo_ = kDigestChunkSize;
    written_hi_ = 0;
  }

  ImageSink* inner_;
  ContentDigest digest_;
  std::unique_ptr<ChunkHasher> hasher_;
  DigestReady on_digest_;
  std::vector<uint8_t> cur_;
  std::vector<ChunkHasher::Slot> small_;  // slots of short runs
  uint64_t cur_index_ = 0;
  bool have_cur_ = false;
  bool cur_nonzero_ = false;  // a non-zero byte was copied into cur_
  bool zeroed_over_ = false;  // zeros were copied over earlier bytes
  // cur_ is zero outside [written_lo_, written_hi_).
  size_t written_lo_ = kDigestChunkSize;
  size_t written_hi_ = 0;
};

}  // namespace

Result<std::unique_ptr<ImageSink>> NewDigestSink(ImageSink* inner,
                                                 uint64_t guest_size,
                                                 unsigned threads,
                                                 DigestReady on_digest) {
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<ChunkHasher> hasher,
                       ChunkHasher::Create(threads));
  return std::unique_ptr<ImageSink>(new DigestSink(
      inner, guest_size, std::move(hasher), std::move(on_digest)));
}

}  // namespace e2q::image
