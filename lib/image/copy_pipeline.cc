// CopyBlocks: a reader thread (two once reads wait for the device) fills
// large buffers from the source, leaving its holes out, while the calling
// thread transforms them and hands the selected blocks to the sink, in
// guest order.
#include "lib/image/copy_pipeline.h"

#include <algorithm>
#include <atomic>
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

// One read: a stretch of the source that holds selected runs, with the
// (small) gaps between them read and dropped.
struct Piece {
  uint64_t first = 0;               // first block read
  uint64_t nblocks = 0;
  uint64_t buf_offset = 0;          // where in the chunk's buffer
  std::vector<BlockRun> selected;   // runs inside [first, first + nblocks)
  // Set by the reader: runs of blocks inside holes of the source, not read
  // (their bytes in the buffer are undefined) and not written to the sink,
  // where bytes never written read as zeros; in increasing order.
  std::vector<BlockRun> holes;
};

// What the reader hands over at once: up to max_read_bytes of pieces in one
// buffer, so that scattered metadata costs one hand-off per buffer, not one
// per piece.
struct Chunk {
  std::vector<Piece> pieces;
  uint64_t nblocks = 0;             // blocks in all pieces
  // Uninitialised (zero-filling cost a memset per read), as long as the
  // largest chunk, recycled between chunks; its first `touched` bytes
  // have their pages in place (see Toucher).
  io::AlignedBytes data;
  uint64_t touched = 0;
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
    space_cv_.wait(lock, [&] {
      return stop_ || claimed_ >= plan_->size() ||
             claimed_ < consumed_ + kQueueDepth;
    });
    if (stop_ || claimed_ >= plan_->size()) return nullptr;
    *index = claimed_++;
    // The last chunk is taken: a second reader still waiting is not needed.
    if (claimed_ == plan_->size()) help_cv_.notify_all();
    return &(*plan_)[*index];
  }
  void Ready(size_t index) {
    std::lock_guard<std::mutex> lock(mu_);
    ready_[index] = true;
    ready_cv_.notify_one();  // only the consumer waits for chunks
  }

  // Consumer side: waits until chunk `index` has been read.
  Chunk* Wait(size_t index) {
    std::unique_lock<std::mutex> lock(mu_);
    ready_cv_.wait(lock, [&] { return static_cast<bool>(ready_[index]); });
    return &(*plan_)[index];
  }
  // Chunk `index` is done with; its buffer goes back to the readers.
  void Consumed(Chunk* c) {
    std::lock_guard<std::mutex> lock(mu_);
    free_.push_back({std::move(c->data), c->touched});
    ++consumed_;
    space_cv_.notify_all();
  }
  // The second reader's side: waits until it is asked to help (true), or
  // there is nothing left to read (false).  On a condition variable of its
  // own: one shared with the others woke it for every chunk.
  bool WaitForHelp() {
    std::unique_lock<std::mutex> lock(mu_);
    help_cv_.wait(lock,
                  [&] { return help_ || stop_ || claimed_ >= plan_->size(); });
    return help_ && !stop_;
  }
  // Reads wait for the device: a second reader keeps another in flight.
  // Called after every slow read; only the first call locks.
  void CallHelp() {
    if (help_.exchange(true)) return;
    // Under the lock, so that the waiter cannot miss the notification
    // between testing help_ and going to sleep.
    std::lock_guard<std::mutex> lock(mu_);
    help_cv_.notify_all();
  }

  // The bytes touched in the buffers handed back so far.
  uint64_t TouchedBytes() {
    std::lock_guard<std::mutex> lock(mu_);
    uint64_t n = 0;
    for (const FreeBuffer& b : free_) n += b.touched;
    return n;
  }

  // Lets blocked readers finish: the consumer stopped early.
  void Stop() {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    space_cv_.notify_all();
    help_cv_.notify_all();
  }

  // Buffers of consumed chunks are reused: a fresh buffer per chunk cost
  // page faults per read.  New ones are touched as reads reach them
  // (Toucher), so that a chunk of holes (the journal of a new filesystem)
  // costs no memory.
  void TakeBuffer(size_t size, Chunk* c) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!free_.empty()) {
        c->data = std::move(free_.back().bytes);
        c->touched = free_.back().touched;
        free_.pop_back();
        return;
      }
    }
    c->data = io::AllocateLarge(size);
    c->touched = 0;
  }

 private:
  std::vector<Chunk>* plan_;
  std::mutex mu_;
  std::condition_variable space_cv_;  // readers: room to read ahead
  std::condition_variable ready_cv_;  // the consumer: a chunk was read
  std::condition_variable help_cv_;   // the second reader: asked to help
  std::vector<bool> ready_;
  size_t claimed_ = 0;
  size_t consumed_ = 0;
  struct FreeBuffer {
    io::AlignedBytes bytes;
    uint64_t touched;
  };
  std::vector<FreeBuffer> free_;
  bool stop_ = false;
  std::atomic<bool> help_{false};
};

// The holes of the source as one reader meets them, going forward: the
// stretch last learnt is kept, so that the kernel is asked again only where
// a stretch ends (an image file's data and holes are long).
class HoleFinder {
 public:
  HoleFinder(io::File* source, uint64_t block_size)
      : source_(source), bs_(block_size) {}

  // From block-aligned byte `off`, of the next `len` bytes: how many are
  // whole blocks inside a hole (returns them, *hole true), or else how
  // many to read before the next whole block of a hole (*hole false).
  // Never 0 for a non-zero len.
  uint64_t Next(uint64_t off, uint64_t len, bool* hole) {
    const uint64_t end = off + len;
    const io::File::Stretch& s = At(off);
    *hole = false;
    if (s.hole) {
      const uint64_t n = (std::min(s.end, end) - off) / bs_ * bs_;
      if (n > 0) {
        *hole = true;
        return n;
      }
    }
    // Data (or a hole shorter than a block, read as data) up to the first
    // block a hole covers whole.
    uint64_t at = off;
    while (at < end) {
      const io::File::Stretch& t = At(at);
      if (t.hole) {
        const uint64_t block = (at + bs_ - 1) / bs_ * bs_;
        if (block > off && block + bs_ <= std::min(t.end, end)) {
          return block - off;
        }
      }
      at = t.end;
    }
    return len;
  }

 private:
  const io::File::Stretch& At(uint64_t off) {
    if (off < from_ || off >= last_.end) {
      last_ = source_->StretchAt(off);
      // A file that ends its answer where it started is read as data.
      if (last_.end <= off) last_ = {false, off + bs_};
      from_ = off;
    }
    return last_;
  }

  io::File* const source_;
  const uint64_t bs_;
  uint64_t from_ = UINT64_MAX;  // last_ holds [from_, last_.end)
  io::File::Stretch last_;
};

// Touches the pages of a chunk's buffer before a read into them, up to the
// end of that read, and keeps the time it took out of the read's: reads
// are timed (io::SlowReads), and a read into fresh pages would time their
// faults too.  Stretches never read (holes, a chunk past the source's
// end) are never touched.
class Toucher {
 public:
  explicit Toucher(Chunk* c) : c_(c) {}
  void Before(const uint8_t* p, uint64_t n) {
    const uint64_t end = static_cast<uint64_t>(p - c_->data.get()) + n;
    if (end <= c_->touched) return;
    const auto start = io::SlowReads::Clock::now();
    std::memset(c_->data.get() + c_->touched, 0, end - c_->touched);
    c_->touched = end;
    spent_ += io::SlowReads::Clock::now() - start;
  }
  // Takes the touching since the last call out of a read that began at
  // `start`.
  io::SlowReads::Clock::time_point Later(io::SlowReads::Clock::time_point t) {
    const auto later = t + spent_;
    spent_ = {};
    return later;
  }

 private:
  Chunk* c_;
  io::SlowReads::Clock::duration spent_{};
};

Status ReadPiece(io::File* source, const CopyOptions& o, uint8_t* data,
                 Piece* p, uint64_t* past_end, io::SlowReads* slow,
                 HoleFinder* holes, Toucher* touch) {
  const uint64_t bs = o.block_size;
  uint64_t off = p->first * bs;
  uint64_t want = p->nblocks * bs;
  uint64_t have = 0;
  if (off < o.source_size) have = std::min(want, o.source_size - off);
  uint64_t got = 0;
  uint64_t read = 0;
  p->holes.clear();
  const auto start = io::SlowReads::Clock::now();
  bool ended = false;
  while (got < have && !ended) {
    bool hole;
    uint64_t n = holes->Next(off + got, have - got, &hole);
    if (hole) {
      if (o.transform) {
        // A transform sees every block it would have seen.
        touch->Before(data + got, n);
        std::memset(data + got, 0, n);
      } else {
        p->holes.push_back({p->first + got / bs, n / bs});
      }
      got += n;
      continue;
    }
    touch->Before(data + got, n);
    for (const uint64_t stop = got + n; got < stop;) {
      E2Q_ASSIGN_OR_RETURN(size_t r,
                           source->ReadSome(off + got, data + got, stop - got));
      if (r == 0) {  // the source ended early
        ended = true;
        break;
      }
      got += r;
      read += r;
    }
  }
  slow->Note(read, touch->Later(start));
  if (got < want) {
    touch->Before(data + got, want - got);
    std::memset(data + got, 0, want - got);
    uint64_t first_missing = p->first + got / bs;
    for (const auto& r : p->selected) {
      uint64_t end = r.start + r.count;
      if (end > first_missing) {
        *past_end += end - std::max(r.start, first_missing);
      }
    }
  }
  return Status::OK();
}

Status ReadChunk(io::File* source, const CopyOptions& o, Chunk* c,
                 io::SlowReads* slow, HoleFinder* holes) {
  Toucher touch(c);
  for (Piece& p : c->pieces) {
    E2Q_RETURN_IF_ERROR(ReadPiece(source, o,
                                  c->data.get() + p.buf_offset * o.block_size,
                                  &p, &c->past_end, slow, holes, &touch));
  }
  return Status::OK();
}

// Calls `write(first, count)` for the parts of run `r` outside `holes`
// (sorted; *next is the first that may still matter, advanced as runs go
// forward).
template <typename Write>
Status ForEachOutsideHoles(BlockRun r, const std::vector<BlockRun>& holes,
                           size_t* next, Write write) {
  size_t& h = *next;
  while (r.count > 0) {
    while (h < holes.size() && holes[h].start + holes[h].count <= r.start) {
      ++h;
    }
    if (h == holes.size() || holes[h].start >= r.start + r.count) {
      return write(r.start, r.count);
    }
    if (holes[h].start > r.start) {
      const uint64_t n = holes[h].start - r.start;
      E2Q_RETURN_IF_ERROR(write(r.start, n));
      r.start += n;
      r.count -= n;
    }
    const uint64_t skip =
        std::min(r.count, holes[h].start + holes[h].count - r.start);
    r.start += skip;
    r.count -= skip;
  }
  return Status::OK();
}

// Shows the selected blocks of a chunk just read to options.inspect.
void Inspect(const Chunk& c, const CopyOptions& o) {
  for (const Piece& piece : c.pieces) {
    const uint8_t* base = c.data.get() + piece.buf_offset * o.block_size;
    size_t next_hole = 0;
    for (const BlockRun& r : piece.selected) {
      // Cannot fail: the callback returns OK.
      (void)ForEachOutsideHoles(
          r, piece.holes, &next_hole, [&](uint64_t first, uint64_t count) {
            o.inspect(first, count,
                      base + (first - piece.first) * o.block_size);
            return Status::OK();
          });
    }
  }
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
  // Buffers as large as the largest chunk, not max_read_bytes: a small
  // metadata image paid for the page faults of four 2 MiB buffers when
  // they were touched whole (now only as far as reads reach).
  uint64_t buf_bytes = bs;
  for (const Chunk& c : plan) buf_bytes = std::max(buf_bytes, c.nblocks * bs);
  // One reader while reads find the page cache: copying out of it, the
  // reader keeps ahead of the consumer, and a second one only took turns
  // with the consumer and the hashing helper on a 2-core machine (-Q and
  // -Qa 4-9% slower, with a context switch per chunk).  Once reads wait
  // for the device, the second reader starts too, so that two reads are in
  // flight besides what the read-ahead announces.
  auto read_chunks = [&](bool first) {
    if (!first && !queue.WaitForHelp()) return;
    HoleFinder holes(source, bs);
    size_t i;
    while (Chunk* c = queue.Claim(&i)) {
      prefetch.Claimed(i);
      queue.TakeBuffer(buf_bytes, c);
      c->status = ReadChunk(source, options, c, &prefetch.slow, &holes);
      if (c->status.ok() && options.inspect) Inspect(*c, options);
      if (prefetch.slow.active()) queue.CallHelp();
      queue.Ready(i);
    }
  };
  std::vector<std::thread> readers;
  readers.emplace_back(read_chunks, true);
  readers.emplace_back(read_chunks, false);

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
      size_t next_hole = 0;
      for (const auto& r : piece.selected) {
        status = ForEachOutsideHoles(
            r, piece.holes, &next_hole, [&](uint64_t first, uint64_t count) {
              uint8_t* p = base + (first - piece.first) * bs;
              if (options.transform) {
                E2Q_RETURN_IF_ERROR(options.transform(first, count, p));
              }
              return sink->Write(first * bs, p, count * bs);
            });
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
  // Every chunk was consumed: every buffer is back.
  stats.buffer_bytes_touched = queue.TouchedBytes();
  E2Q_RETURN_IF_ERROR(sink->Finish());
  return stats;
}

}  // namespace e2q::image
