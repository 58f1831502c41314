// CopyBlocks: two reader threads fill large buffers from the source while
// the calling thread transforms them and hands the selected blocks to the
// sink, in guest order.
#include "lib/image/copy_pipeline.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

#include "lib/io/aligned_buffer.h"
#include "lib/io/slow_reads.h"

namespace e2q::image {

namespace {

// Selected runs closer than this many bytes are read in one call; the gap
// is read and dropped.  Cheaper than a second system call for small gaps;
// copying a larger gap out of the page cache costs more than the call: with
// 32 KiB, -Q of a copy of /usr read 343 MiB to copy 124 MiB and took 20%
// longer than with 16 KiB (8 KiB was as fast there, slower on the synthetic
// tree; bench/README.md).
constexpr uint64_t kMaxGapBytes = 16 << 10;
constexpr size_t kQueueDepth = 4;
constexpr size_t kPrefetchChunks = 8;
constexpr int kReaders = 2;

// One read: a stretch of the source that holds selected runs, with the
// (small) gaps between them read and dropped.
struct Piece {
  uint64_t first = 0;               // first block read
  uint64_t nblocks = 0;
  uint64_t buf_offset = 0;          // where in the chunk's buffer
  std::vector<BlockRun> selected;   // runs inside [first, first + nblocks)
};

// What the reader hands over at once: up to max_read_bytes of pieces in one
// buffer, so that scattered metadata costs one hand-off per buffer, not one
// per piece.
struct Chunk {
  std::vector<Piece> pieces;
  uint64_t nblocks = 0;             // blocks in all pieces
  // Uninitialised (zero-filling cost a memset per read), at least
  // max_read_bytes long, recycled between chunks.
  io::AlignedBytes data;
  uint64_t past_end = 0;            // blocks beyond the source's end
  Status status;
};

// Splits the runs into pieces of at most `max_blocks`, merging runs whose
// gap is small, and packs consecutive pieces into chunks of at most
// `max_blocks`.
std::vector<Chunk> PlanChunks(const std::vector<BlockRun>& runs,
                              uint64_t max_blocks, uint64_t max_gap) {
  std::vector<Piece> pieces;
  Piece cur;
  bool open = false;
  for (BlockRun r : runs) {
    while (r.count > 0) {
      if (open) {
        uint64_t end = cur.first + cur.nblocks;
        bool near = r.start - end <= max_gap;
        if (near && r.start + 1 - cur.first <= max_blocks) {
          uint64_t take = std::min(r.count, cur.first + max_blocks - r.start);
          cur.selected.push_back({r.start, take});
          cur.nblocks = r.start + take - cur.first;
          r.start += take;
          r.count -= take;
          continue;
        }
        pieces.push_back(std::move(cur));
        cur = Piece();
      }
      uint64_t take = std::min(r.count, max_blocks);
      cur.first = r.start;
      cur.nblocks = take;
      cur.selected = {{r.start, take}};
      open = true;
      r.start += take;
      r.count -= take;
    }
  }
  if (open) pieces.push_back(std::move(cur));

  std::vector<Chunk> plan;
  for (Piece& p : pieces) {
    if (plan.empty() || plan.back().nblocks + p.nblocks > max_blocks) {
      plan.emplace_back();
    }
    Chunk& c = plan.back();
    p.buf_offset = c.nblocks;
    c.nblocks += p.nblocks;
    c.pieces.push_back(std::move(p));
  }
  return plan;
}

// Hands the planned chunks from the reader threads to the consumer in plan
// order.  Readers claim chunks in order but may finish them out of order;
// at most kQueueDepth chunks are read ahead of the consumer, so memory is
// bounded by kQueueDepth buffers.
class ChunkQueue {
 public:
  explicit ChunkQueue(std::vector<Chunk>* plan)
      : plan_(plan), ready_(plan->size(), false) {}

  // Reader side: the next chunk to read, or nullptr when there is none
  // left or the consumer stopped.  Blocks while the read-ahead is full.
  Chunk* Claim(size_t* index) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] {
      return stop_ || claimed_ >= plan_->size() ||
             claimed_ < consumed_ + kQueueDepth;
    });
    if (stop_ || claimed_ >= plan_->size()) return nullptr;
    *index = claimed_++;
    return &(*plan_)[*index];
  }
  void Ready(size_t index) {
    std::lock_guard<std::mutex> lock(mu_);
    ready_[index] = true;
    cv_.notify_all();
  }

  // Consumer side: waits until chunk `index` has been read.
  Chunk* Wait(size_t index) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return static_cast<bool>(ready_[index]); });
    return &(*plan_)[index];
  }
  // Chunk `index` is done with; its buffer goes back to the readers.
  void Consumed(Chunk* c) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back(std::move(c->data));
    ++consumed_;
    cv_.notify_all();
  }
  // Lets blocked readers finish: the consumer stopped early.
  void Stop() {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    cv_.notify_all();
  }

  // Buffers of consumed chunks are reused: a fresh buffer per chunk cost
  // page faults per read.  New ones are touched (AllocateTouched), as
  // reads into them are timed.
  io::AlignedBytes TakeBuffer(size_t size) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        auto buf = std::move(free_.back());
        free_.pop_back();
        return buf;
      }
    }
    return io::AllocateTouched(size);
  }

 private:
  std::vector<Chunk>* plan_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<bool> ready_;
  size_t claimed_ = 0;
  size_t consumed_ = 0;
  std::vector<io::AlignedBytes> free_;
  bool stop_ = false;
};

Status ReadPiece(io::File* source, const CopyOptions& o, uint8_t* data,
                 const Piece& p, uint64_t* past_end, io::SlowReads* slow) {
  const uint64_t bs = o.block_size;
  uint64_t off = p.first * bs;
  uint64_t want = p.nblocks * bs;
  uint64_t have = 0;
  if (off < o.source_size) have = std::min(want, o.source_size - off);
  uint64_t got = 0;
  const auto start = io::SlowReads::Clock::now();
  while (got < have) {
    E2Q_ASSIGN_OR_RETURN(size_t n,
                         source->ReadSome(off + got, data + got, have - got));
    if (n == 0) break;  // the source ended early
    got += n;
  }
  slow->Note(got, start);
  if (got < want) {
    std::memset(data + got, 0, want - got);
    uint64_t first_missing = p.first + got / bs;
    for (const auto& r : p.selected) {
      uint64_t end = r.start + r.count;
      if (end > first_missing) {
        *past_end += end - std::max(r.start, first_missing);
      }
    }
  }
  return Status::OK();
}

Status ReadChunk(io::File* source, const CopyOptions& o, Chunk* c,
                 io::SlowReads* slow) {
  for (const Piece& p : c->pieces) {
    E2Q_RETURN_IF_ERROR(ReadPiece(source, o,
                                  c->data.get() + p.buf_offset * o.block_size,
                                  p, &c->past_end, slow));
  }
  return Status::OK();
}

// Once reads wait for the device, the pieces of the kPrefetchChunks chunks
// after the one a reader claimed are announced to it (File::Prefetch), so
// that a cold disk works on many scattered reads at a time instead of the
// two the readers have in flight.
class Prefetcher {
 public:
  Prefetcher(io::File* source, const std::vector<Chunk>& plan, uint32_t bs)
      : slow(source), source_(source), plan_(plan), bs_(bs) {}

  void Claimed(size_t index) {
    if (!slow.active()) return;
    std::lock_guard<std::mutex> lock(mu_);
    next_ = std::max(next_, index + 1);
    const size_t end = std::min(plan_.size(), index + 1 + kPrefetchChunks);
    io::PrefetchHints hints(source_);
    for (; next_ < end; ++next_) {
      for (const Piece& p : plan_[next_].pieces) {
        hints.Add(p.first * bs_, p.nblocks * bs_);
      }
    }
  }

  io::SlowReads slow;

 private:
  io::File* const source_;
  const std::vector<Chunk>& plan_;
  const uint32_t bs_;
  std::mutex mu_;
  size_t next_ = 0;  // first chunk not announced
};

}  // namespace

Result<CopyStats> CopyBlocks(io::File* source, const BlockSet& blocks,
                             ImageSink* sink, const CopyOptions& options) {
  const uint64_t bs = options.block_size;
  if (bs == 0 || options.max_read_bytes < bs) {
    return Status::InvalidArgument("copy: block size and read size invalid");
  }
  std::vector<Chunk> plan = PlanChunks(
      blocks.Runs(), options.max_read_bytes / bs, kMaxGapBytes / bs);
  ChunkQueue queue(&plan);
  Prefetcher prefetch(source, plan, options.block_size);
  // Buffers as large as the largest chunk, not max_read_bytes: they are
  // touched when allocated, and a small metadata image paid for the page
  // faults of four 2 MiB buffers.
  uint64_t buf_bytes = bs;
  for (const Chunk& c : plan) buf_bytes = std::max(buf_bytes, c.nblocks * bs);
  // Two readers: copying out of the page cache is what a warm export
  // spends its time on, and it scales with cores.
  auto read_chunks = [&] {
    size_t i;
    while (Chunk* c = queue.Claim(&i)) {
      prefetch.Claimed(i);
      c->data = queue.TakeBuffer(buf_bytes);
      c->status = ReadChunk(source, options, c, &prefetch.slow);
      queue.Ready(i);
    }
  };
  std::vector<std::thread> readers;
  for (int t = 0; t < kReaders; ++t) readers.emplace_back(read_chunks);

  CopyStats stats;
  Status status;
  uint64_t done = 0;
  for (size_t i = 0; i < plan.size() && status.ok(); ++i) {
    Chunk* c = queue.Wait(i);
    status = c->status;
    if (!status.ok()) break;
    stats.bytes_read += c->nblocks * bs;
    stats.blocks_past_source_end += c->past_end;
    for (const Piece& piece : c->pieces) {
      uint8_t* base = c->data.get() + piece.buf_offset * bs;
      for (const auto& r : piece.selected) {
        uint8_t* p = base + (r.start - piece.first) * bs;
        if (options.transform) {
          status = options.transform(r.start, r.count, p);
          if (!status.ok()) break;
        }
        status = sink->Write(r.start * bs, p, r.count * bs);
        if (!status.ok()) break;
        done += r.count;
      }
      if (!status.ok()) break;
    }
    if (status.ok() && options.progress) options.progress(done);
    queue.Consumed(c);
  }
  queue.Stop();
  for (auto& t : readers) t.join();
  E2Q_RETURN_IF_ERROR(status);
  stats.blocks_read = done;
  E2Q_RETURN_IF_ERROR(sink->Finish());
  return stats;
}

}  // namespace e2q::image
