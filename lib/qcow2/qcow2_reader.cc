// Qcow2Reader, part one: opening an image and its backing chain, loading
// and validating L1 tables, selecting snapshots.  Cluster lookup and the
// read path are in qcow2_reader_map.cc, compressed clusters in
// qcow2_reader_compressed.cc.
#include "lib/qcow2/qcow2_reader.h"

#include <climits>
#include <cstdlib>
#include <cstring>

#include "lib/base/endian.h"
#include "lib/qcow2/qcow2_decompress.h"
#include "lib/qcow2/qcow2_header_info.h"
#include "lib/qcow2/qcow2_l2_cache.h"

namespace e2q::qcow2 {

namespace {

// L1 entry bits that must be zero: 0-8 and 56-62.
constexpr uint64_t kL1ReservedMask = ~(kL1OffsetMask | kOflagCopied);

// The backing file named `backing` of the image at `image_path`: as is when
// absolute, else relative to the image's directory (qemu's path_combine).
std::string CombinePath(const std::string& image_path,
                        const std::string& backing) {
  if (!backing.empty() && backing[0] == '/') return backing;
  size_t slash = image_path.rfind('/');
  if (slash == std::string::npos) return backing;
  return image_path.substr(0, slash + 1) + backing;
}

// qemu reads "proto:rest" (a ':' before any '/') as a protocol, not a file.
bool HasProtocol(const std::string& path) {
  size_t p = path.find_first_of(":/");
  return p != std::string::npos && path[p] == ':';
}

// The identity used to detect a backing chain that loops: the canonical
// path when the file exists on disk, else the name itself (in-memory files
// in tests).
std::string FileIdentity(const std::string& path) {
  char* real = realpath(path.c_str(), nullptr);
  if (real == nullptr) return path;
  std::string id(real);
  free(real);
  return id;
}

}  // namespace

Qcow2Reader::Qcow2Reader(std::unique_ptr<io::File> file, Header header,
                         uint64_t file_size)
    : file_(std::move(file)),
      header_(std::move(header)),
      file_size_(file_size) {}

Qcow2Reader::~Qcow2Reader() = default;

Status Qcow2Reader::Corrupt(const std::string& why) const {
  return Status::Corruption(file_->name() + ": " + why);
}

Result<bool> Qcow2Reader::IsQcow2(io::File* file) {
  uint8_t magic[4];
  size_t got = 0;
  while (got < sizeof(magic)) {
    E2Q_ASSIGN_OR_RETURN(size_t n,
                         file->ReadSome(got, magic + got, sizeof(magic) - got));
    if (n == 0) return false;  // shorter than a magic number
    got += n;
  }
  return LoadBE32(magic) == kMagic;
}

Result<std::unique_ptr<Qcow2Reader>> Qcow2Reader::Open(
    std::unique_ptr<io::File> file, const OpenOptions& options) {
  std::vector<std::string> chain{FileIdentity(file->name())};
  return OpenInternal(std::move(file), options, 0, &chain);
}

Result<std::unique_ptr<Qcow2Reader>> Qcow2Reader::OpenInternal(
    std::unique_ptr<io::File> file, const OpenOptions& options, uint32_t depth,
    std::vector<std::string>* chain) {
  const std::string name = file->name();
  E2Q_ASSIGN_OR_RETURN(uint64_t file_size, file->Size());
  E2Q_ASSIGN_OR_RETURN(Header header, ReadHeader(file.get()));
  E2Q_ASSIGN_OR_RETURN(HeaderInfo info, DescribeHeader(name, header));
  if (!info.encryption.empty() && !options.layout_only) {
    std::string format = info.encryption == "aes" ? "AES" : "LUKS";
    return Status::NotSupported(name + ": encrypted images (" + format +
                                ") are not supported");
  }
  const bool extended_l2 = info.extended_l2;
  std::unique_ptr<Qcow2Reader> r(
      new Qcow2Reader(std::move(file), std::move(header), file_size));
  r->extended_l2_ = extended_l2;
  r->encrypted_ = !info.encryption.empty();
  r->has_data_file_ = info.has_data_file;
  const Header& h = r->header_;
  const uint64_t cs = h.cluster_size();
  if (extended_l2) {
    // Subclusters (1/32 cluster) must hold whole sectors, and each L2
    // table maps half as many clusters with 16-byte entries.
    if (h.cluster_bits < 14) {
      return r->Corrupt("qcow2 header: extended L2 entries need clusters of "
                        "at least 16 KiB");
    }
    const uint64_t per_l1 = (cs / 16) * cs;
    if (h.l1_size < (h.size + per_l1 - 1) / per_l1) {
      return r->Corrupt("qcow2 header: L1 table too small for the virtual size");
    }
  }

  // The refcount table is not needed to read guest data, but a table that
  // lies outside the file marks a damaged image.
  const uint64_t reftable_bytes = uint64_t{h.refcount_table_clusters} * cs;
  if (h.refcount_table_offset > file_size ||
      reftable_bytes > file_size - h.refcount_table_offset) {
    return r->Corrupt("refcount table at " + Hex(h.refcount_table_offset) +
                      " runs past end of file");
  }
  E2Q_ASSIGN_OR_RETURN(r->snapshots_,
                       DecodeSnapshotTable(r->file_.get(), h, nullptr));
  E2Q_RETURN_IF_ERROR(r->LoadL1(h.l1_table_offset, h.l1_size, "L1 table"));
  r->l2_cache_ = std::make_unique<L2Cache>(
      L2Entries(h.cluster_bits),
      depth == 0 ? options.l2_cache_bytes : options.l2_cache_bytes / 4);
  auto dec = BatchDecompressor::Create(h.compression_type,
                                       options.decompress_threads);
  if (!dec.ok()) return dec.status().WithContext(name);
  r->decompressor_ = std::move(dec).value();
  if (info.has_data_file && !options.layout_only) {
    E2Q_RETURN_IF_ERROR(r->OpenDataFile(options, info.data_file));
  }
  if (!h.backing_file.empty() && options.open_backing) {
    E2Q_RETURN_IF_ERROR(r->OpenBacking(options, depth, chain));
  }
  return r;
}

Status Qcow2Reader::OpenDataFile(const OpenOptions& options,
                                 const std::string& data_file) {
  const std::string& name = file_->name();
  if (data_file.empty()) {
    return Status::NotSupported(
        name + ": external data file: the header does not name it");
  }
  const std::string what = name + ": external data file '" + data_file + "'";
  if (HasProtocol(data_file)) {
    return Status::NotSupported(what + ": protocols are not supported");
  }
  // Relative to the image's directory, as backing files are.
  data_file_path_ = CombinePath(name, data_file);
  FileOpener open = options.open_file ? options.open_file : io::OpenFileForRead;
  auto opened = open(data_file_path_);
  if (!opened.ok()) return opened.status().WithContext(what);
  data_file_ = std::move(opened).value();
  return Status::OK();
}

Status Qcow2Reader::LoadL1(uint64_t offset, uint32_t entries,
                           const std::string& what) {
  const uint64_t cs = header_.cluster_size();
  const uint64_t bytes = uint64_t{entries} * 8;
  if (!L1EntriesFit(entries)) return Corrupt(what + " too large");
  if (entries > 0 && (offset % cs != 0 || offset == 0 ||
                      offset > file_size_ || bytes > file_size_ - offset)) {
    return Corrupt(what + " at " + Hex(offset) + " (" +
                   std::to_string(entries) +
                   " entries) is misplaced or runs past end of file");
  }
  std::vector<uint8_t> raw(bytes);
  if (bytes > 0) E2Q_RETURN_IF_ERROR(file_->ReadAt(offset, raw.data(), bytes));
  std::vector<uint64_t> l1(entries);
  for (uint32_t i = 0; i < entries; ++i) {
    const uint64_t e = LoadBE64(raw.data() + uint64_t{i} * 8);
    const uint64_t l2 = e & kL1OffsetMask;
    const std::string where =
        what + " entry " + std::to_string(i) + " (" + Hex(e) + "): ";
    if (e & kL1ReservedMask) return Corrupt(where + "reserved bits set");
    if (l2 % cs != 0) return Corrupt(where + "L2 table offset not aligned");
    if (l2 != 0 && (l2 > file_size_ || cs > file_size_ - l2)) {
      return Corrupt(where + "L2 table past end of file");
    }
    l1[i] = l2;
  }
  l1_ = std::move(l1);
  return Status::OK();
}

Status Qcow2Reader::SelectSnapshot(const std::string& id_or_name) {
  int idx = FindSnapshot(snapshots_, id_or_name);
  if (idx < 0) {
    return Status::NotFound(file_->name() + ": snapshot '" + id_or_name +
                            "': no such snapshot");
  }
  return SelectSnapshotAt(static_cast<size_t>(idx));
}

Status Qcow2Reader::SelectSnapshotAt(size_t index) {
  if (index >= snapshots_.size()) {
    return Status::InvalidArgument(file_->name() + ": snapshot index " +
                                   std::to_string(index) + " out of range");
  }
  const SnapshotEntry& sn = snapshots_[index];
  E2Q_RETURN_IF_ERROR(LoadL1(sn.l1_table_offset, sn.l1_size,
                             "snapshot " + sn.id_str + " L1 table"));
  l2_cache_->Clear();
  cbuf_valid_ = false;
  return Status::OK();
}

Status Qcow2Reader::OpenBacking(const OpenOptions& options, uint32_t depth,
                                std::vector<std::string>* chain) {
  const std::string& name = file_->name();
  const std::string what = name + ": backing file '" + header_.backing_file + "'";
  if (header_.backing_file.find('\0') != std::string::npos) {
    return Status::Corruption(what + ": name contains a NUL byte");
  }
  if (HasProtocol(header_.backing_file)) {
    return Status::NotSupported(what + ": protocols are not supported");
  }
  for (const HeaderExtension& ext : header_.extensions) {
    if (ext.type != kExtBackingFormat) continue;
    backing_format_.assign(ext.data.begin(), ext.data.end());
  }
  if (!backing_format_.empty() && backing_format_ != "raw" &&
      backing_format_ != "qcow2") {
    return Status::NotSupported(what + ": backing format '" + backing_format_ +
                                "' is not supported");
  }
  if (depth + 1 >= kMaxBackingDepth) {
    return Status::NotSupported(what + ": backing chain deeper than " +
                                std::to_string(kMaxBackingDepth) + " images");
  }
  backing_path_ = CombinePath(name, header_.backing_file);
  const std::string id = FileIdentity(backing_path_);
  for (const std::string& seen : *chain) {
    if (seen == id) {
      return Status::Corruption(what + ": backing chain loops back to " +
                                backing_path_);
    }
  }
  chain->push_back(id);
  FileOpener open = options.open_file ? options.open_file : io::OpenFileForRead;
  auto opened = open(backing_path_);
  if (!opened.ok()) return opened.status().WithContext(what);
  std::unique_ptr<io::File> file = std::move(opened).value();
  if (backing_format_.empty()) {
    auto is_qcow2 = IsQcow2(file.get());
    if (!is_qcow2.ok()) return is_qcow2.status().WithContext(what);
    backing_format_ = is_qcow2.value() ? "qcow2" : "raw";
  }
  if (backing_format_ == "raw") {
    E2Q_ASSIGN_OR_RETURN(backing_size_, file->Size());
    backing_raw_ = std::move(file);
    return Status::OK();
  }
  auto sub = OpenInternal(std::move(file), options, depth + 1, chain);
  if (!sub.ok()) {
    // Name the first few links of the chain and the failing one, not all
    // 64 of a long chain.
    constexpr uint32_t kNamedLinks = 4;
    if (depth < kNamedLinks) return sub.status().WithContext(what);
    if (depth == kNamedLinks) return sub.status().WithContext("...");
    return sub.status();
  }
  backing_qcow2_ = std::move(sub).value();
  backing_size_ = backing_qcow2_->virtual_size();
  return Status::OK();
}

}  // namespace e2q::qcow2
