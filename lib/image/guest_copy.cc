// CopyGuestContent (see guest_copy.h): map the source's allocation, read
// data stretches in large chunks, skip zero stretches unread.
#include "lib/image/guest_copy.h"

#include <algorithm>
#include <future>
#include <utility>
#include <vector>

namespace e2q::image {

namespace {

// Large enough that a data stretch costs few reads and sink calls, small
// enough to stay cheap in memory.
constexpr size_t kChunkBytes = 8u << 20;

// Hands out the source's data in chunks of at most kChunkBytes, in guest
// order, skipping stretches that Map() reports as zero without reading
// them.
class ChunkSource {
 public:
  struct Chunk {
    uint64_t offset = 0;
    size_t len = 0;  // 0: end of the image
    std::vector<uint8_t> data;
  };
  explicit ChunkSource(qcow2::Qcow2Reader* reader) : reader_(reader) {}

  Status Next(Chunk* c) {
    const uint64_t size = reader_->virtual_size();
    while (data_left_ == 0) {
      if (pos_ >= size) {
        c->len = 0;
        return Status::OK();
      }
      E2Q_ASSIGN_OR_RETURN(qcow2::Qcow2Reader::Extent e,
                           reader_->Map(pos_, size - pos_));
      if (e.kind == qcow2::Qcow2Reader::ExtentKind::kData) {
        data_left_ = e.len;
      } else {
        pos_ += e.len;
      }
    }
    c->offset = pos_;
    c->len = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, data_left_));
    if (c->data.size() < c->len) c->data.resize(kChunkBytes);
    E2Q_RETURN_IF_ERROR(reader_->Read(pos_, c->data.data(), c->len));
    pos_ += c->len;
    data_left_ -= c->len;
    return Status::OK();
  }

 private:
  qcow2::Qcow2Reader* reader_;
  uint64_t pos_ = 0;
  uint64_t data_left_ = 0;
};

}  // namespace

Status CopyGuestContent(qcow2::Qcow2Reader* reader, ImageSink* sink,
                        const std::function<void(uint64_t)>& progress) {
  ChunkSource source(reader);
  ChunkSource::Chunk ready, spare;
  auto fetch = [&source](ChunkSource::Chunk* c) { return source.Next(c); };
  std::future<Status> pending = std::async(std::launch::async, fetch, &ready);
  for (;;) {
    E2Q_RETURN_IF_ERROR(pending.get());
    if (ready.len == 0) break;
    std::swap(ready, spare);
    pending = std::async(std::launch::async, fetch, &ready);
    // On an error here, `pending`'s destructor waits for the helper.
    E2Q_RETURN_IF_ERROR(
        sink->Write(spare.offset, spare.data.data(), spare.len));
    if (progress) progress(spare.offset + spare.len);
  }
  if (progress) progress(reader->virtual_size());
  return Status::OK();
}

}  // namespace e2q::image
