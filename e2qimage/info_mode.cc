// --info and --verify.  The layout comes from Qcow2Reader (header, cluster
// counts, snapshot table, backing chain), the provenance from the header
// extension (GatherInfo); --verify reads the guest content through the
// chain.  Both print lines or, with --output=json, one JSON object.
#include "e2qimage/info_mode.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <thread>

#include "e2qimage/info_facts.h"
#include "e2qimage/progress.h"
#include "lib/image/image_digest.h"
#include "lib/image/provenance.h"
#include "lib/io/file.h"
#include "lib/qcow2/qcow2_reader.h"

namespace e2q::cli {

namespace {

std::string Ids(const std::vector<uint32_t>& ids) {
  std::string s;
  for (uint32_t id : ids) {
    if (!s.empty()) s += ' ';
    s += std::to_string(id);
  }
  return s;
}

std::string Time(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm;
  char buf[64];
  if (gmtime_r(&tt, &tm) == nullptr ||
      std::strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm) == 0) {
    return std::to_string(t);
  }
  return std::to_string(t) + " (" + buf + ")";
}

// Labels are raw superblock bytes: show anything unprintable as \xNN.
std::string Printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

void PrintProvenance(const image::Provenance& p) {
  printf("provenance: e2qimage record version %u\n",
         image::Provenance::kVersion);
  printf("kind: %s\n", image::ImageKindName(p.kind));
  const bool known = p.block_size != 0;
  printf("filesystem UUID: %s\n",
         known ? image::FormatUuid(p.fs_uuid).c_str() : "unknown");
  printf("filesystem label: %s\n", Printable(p.label).c_str());
  if (known) {
    printf("filesystem size: %llu blocks of %u bytes\n",
           static_cast<unsigned long long>(p.blocks_count), p.block_size);
  } else {
    printf("filesystem size: unknown\n");
  }
  printf(
      "content: %s%s\n",
      p.flags & image::Provenance::kFlagAllData ? "all data" : "metadata only",
      p.flags & image::Provenance::kFlagScrambled ? ", names scrambled" : "");
  std::string states = Ids(p.snapshot_ids);
  if (p.flags & image::Provenance::kFlagLive) {
    states += states.empty() ? "live" : " live";
  }
  printf("states: %s\n", states.empty() ? "unknown" : states.c_str());
  if (p.kind == image::ImageKind::kIncremental) {
    printf("base digest: %s\n", DigestText(p.base_digest).c_str());
    if (!p.base_snapshot_ids.empty()) {
      printf("base states: %s\n", Ids(p.base_snapshot_ids).c_str());
    }
  }
  printf("created: %s\n", Time(p.created).c_str());
  printf("e2qimage version: %s\n", p.tool_version.c_str());
  printf("digest: %s\n", DigestText(p.digest).c_str());
}

Result<std::unique_ptr<qcow2::Qcow2Reader>> OpenImage(const std::string& path,
                                                      bool backing,
                                                      bool layout_only) {
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<io::File> file,
                       io::OpenFileForRead(path));
  E2Q_ASSIGN_OR_RETURN(bool is_qcow2, qcow2::Qcow2Reader::IsQcow2(file.get()));
  if (!is_qcow2) {
    return Status::InvalidArgument(path + ": not a qcow2 image");
  }
  qcow2::Qcow2Reader::OpenOptions oo;
  oo.open_backing = backing;
  oo.layout_only = layout_only;
  return qcow2::Qcow2Reader::Open(std::move(file), oo);
}

const char* YesNo(bool b) { return b ? "true" : "false"; }

void PrintInfo(const InfoFacts& f) {
  const qcow2::Header& h = f.header;
  const qcow2::HeaderInfo& hi = f.header_info;
  const qcow2::Qcow2Reader::ClusterCounts& c = f.clusters;
  printf("file: %s\n", f.path.c_str());
  printf("format: qcow2 version %u (compat %s)\n", h.version,
         hi.compat.c_str());
  printf("virtual size: %llu bytes\n",
         static_cast<unsigned long long>(h.size));
  printf("cluster size: %llu bytes\n",
         static_cast<unsigned long long>(h.cluster_size()));
  printf("clusters: %llu total, %llu allocated, %llu compressed, %llu zero\n",
         static_cast<unsigned long long>(c.total),
         static_cast<unsigned long long>(c.data + c.compressed),
         static_cast<unsigned long long>(c.compressed),
         static_cast<unsigned long long>(c.zero));
  printf("compression type: %s\n", hi.compression_type.c_str());
  printf("refcount bits: %u\n", hi.refcount_bits);
  printf("lazy refcounts: %s\n", YesNo(hi.lazy_refcounts));
  printf("extended L2: %s\n", YesNo(hi.extended_l2));
  printf("corrupt: %s\n", YesNo(hi.corrupt));
  printf("dirty flag: %s\n", YesNo(hi.dirty));
  if (hi.has_data_file) {
    printf("data file: %s\n", hi.data_file.empty()
                                  ? "(not named in the header)"
                                  : Printable(hi.data_file).c_str());
    printf("data file raw: %s\n", YesNo(hi.data_file_raw));
  }
  printf("encryption: %s\n",
         hi.encryption.empty() ? "none" : hi.encryption.c_str());
  printf("internal snapshots: %zu\n", f.snapshots.size());
  for (const auto& s : f.snapshots) {
    printf("snapshot: id %s, name %s, size %llu bytes\n", s.id_str.c_str(),
           s.name.c_str(), static_cast<unsigned long long>(s.disk_size));
  }
  if (h.backing_file.empty()) {
    printf("backing file: none\n");
  } else if (!f.backing_error.empty()) {
    printf("backing file: %s (cannot open: %s)\n", h.backing_file.c_str(),
           f.backing_error.c_str());
  } else {
    for (const BackingLink& b : f.backing_chain) {
      printf("backing file: %s (format %s, opened as %s)\n", b.name.c_str(),
             b.format.c_str(), b.opened_as.c_str());
    }
  }
  if (f.provenance) {
    PrintProvenance(*f.provenance);
  } else {
    printf("provenance: none (not written by e2qimage)\n");
  }
  if (f.base_guard) {
    const image::BaseGuard& g = *f.base_guard;
    printf("base guard: %llu clusters replaced, digest %s\n",
           static_cast<unsigned long long>(g.clusters),
           DigestText(g.replaced).c_str());
    printf(
        "base superblock: %s, mount count %u, last mounted %s, last "
        "written %s\n",
        DigestText(g.superblock).c_str(), g.mnt_count, Time(g.mtime).c_str(),
        Time(g.wtime).c_str());
  }
}

Status FlushStdout() {
  if (fflush(stdout) != 0 || ferror(stdout)) {
    return Status::FromErrno("standard output", "write", errno);
  }
  return Status::OK();
}

}  // namespace

Result<InfoFacts> GatherInfo(const std::string& path) {
  InfoFacts f;
  f.path = path;
  // The image itself, without its backing chain (which may be missing).
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<qcow2::Qcow2Reader> r,
                       OpenImage(path, false, true));
  f.header = r->header();
  E2Q_ASSIGN_OR_RETURN(f.header_info, qcow2::DescribeHeader(path, f.header));
  E2Q_ASSIGN_OR_RETURN(f.provenance, image::Provenance::Find(path, f.header));
  E2Q_ASSIGN_OR_RETURN(f.base_guard, image::BaseGuard::Find(path, f.header));
  E2Q_ASSIGN_OR_RETURN(f.clusters, r->CountClusters());
  f.snapshots = r->snapshots();
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    f.actual_size = static_cast<uint64_t>(st.st_blocks) * 512;
  }
  if (!f.header.backing_file.empty()) {
    auto chain = OpenImage(path, true, true);
    if (!chain.ok()) {
      f.backing_error = chain.status().message();
    } else {
      for (qcow2::Qcow2Reader* b = chain->get();
           b != nullptr && !b->header().backing_file.empty();
           b = b->backing_qcow2()) {
        f.backing_chain.push_back(BackingLink{
            b->header().backing_file, b->backing_format(), b->backing_path()});
      }
    }
  }
  return f;
}

Status RunInfo(const Options& o) {
  E2Q_ASSIGN_OR_RETURN(InfoFacts f, GatherInfo(o.args[0]));
  if (o.json) {
    fputs(InfoJson(f).c_str(), stdout);
  } else {
    PrintInfo(f);
  }
  return FlushStdout();
}

Status RunVerify(const Options& o) {
  const std::string& path = o.args[0];
  E2Q_ASSIGN_OR_RETURN(std::unique_ptr<qcow2::Qcow2Reader> r,
                       OpenImage(path, true, false));
  E2Q_ASSIGN_OR_RETURN(std::optional<image::Provenance> prov,
                       image::Provenance::Find(path, r->header()));
  if (!prov) {
    return Status::NotFound(path +
                            ": verify: no provenance record (the image was "
                            "not written by e2qimage), nothing to compare");
  }
  constexpr uint64_t kUnit = 1u << 20;
  const uint64_t size = r->virtual_size();
  Progress progress(o.progress, "Verifying", "MiB", (size + kUnit - 1) / kUnit,
                    kUnit);
  const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
  E2Q_ASSIGN_OR_RETURN(
      image::Digest128 d,
      image::ComputeImageDigest(
          r.get(), o.threads ? o.threads - 1 : cores - 1,
          [&](uint64_t done) { progress.Update(done / kUnit); }));
  progress.Finish();
  if (o.json) {
    // A mismatch is a result too: the object says so, and the exit
    // status and the message on standard error as without --output.
    fputs(VerifyJson(VerifyResult{path, d == prov->digest, prov->digest, d})
              .c_str(),
          stdout);
    E2Q_RETURN_IF_ERROR(FlushStdout());
  }
  if (d != prov->digest) {
    return Status::Corruption(path + ": verify: digest mismatch (recorded " +
                              DigestText(prov->digest) + ", computed " +
                              DigestText(d) + ")");
  }
  if (!o.json) {
    printf("%s: verify: OK, digest %s\n", path.c_str(), DigestText(d).c_str());
  }
  return FlushStdout();
}

}  // namespace e2q::cli
