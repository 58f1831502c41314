// next3gen: builds a faithful next3 filesystem with a snapshot history and
// the outputs a next3 reader must reproduce (next3-contract.md):
//   next3gen [--seed=N] [--scenario=NAME] [--blocks=N]
//            [--exclude=inode|gdt|both] FS-IMAGE EXPECT-DIR
//   next3gen --damage=KIND FS-IMAGE
//   next3gen --verify FS-IMAGE EXPECT-DIR   (only the self-check)
// Exit 0 on success, 1 on an error or a failed self-check, 2 on usage.
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "tests/tools/next3gen/check.h"
#include "tests/tools/next3gen/damage.h"
#include "tests/tools/next3gen/gen.h"
#include "tests/tools/next3gen/manifest.h"
#include "tests/tools/next3gen/setup.h"
#include "tests/tools/next3gen/workload.h"

namespace n3g {
namespace {

constexpr long kMkfsTime = 1700000000;

int Usage() {
  fprintf(stderr,
          "usage: next3gen [--seed=N] [--scenario=busy|deleted|huge|giant] "
          "[--blocks=N]\n"
          "                [--exclude=inode|gdt|both] FS-IMAGE EXPECT-DIR\n"
          "       next3gen --damage=KIND FS-IMAGE\n"
          "       next3gen --verify FS-IMAGE EXPECT-DIR\n");
  return 2;
}

void WriteLists(Gen& gen) {
  std::ofstream list(gen.expect_dir + "/list.txt", std::ios::trunc);
  std::ofstream all(gen.expect_dir + "/snapshots.txt", std::ios::trunc);
  for (size_t i = gen.snaps.size(); i-- > 0;) {
    const Snap& s = gen.snaps[i];
    all << s.id << " " << s.ino << " " << s.state << " " << s.blocks << "\n";
    if (s.state != "active" && s.state != "frozen") {  // not exportable
      std::string base = gen.expect_dir + "/snap-" + std::to_string(s.id);
      unlink((base + ".img").c_str());
      unlink((base + ".manifest").c_str());
    }
    if (s.state == "removed") continue;
    list << s.id << " " << s.ino << " " << s.state << " "
         << (s.linked ? "/.snapshots/" + s.name : std::string("-")) << "\n";
  }
  if (!list || !all) Die(gen.expect_dir + ": write failed");
}

int Generate(uint64_t seed, const std::string& scenario, uint64_t blocks,
             ExcludeAt exclude_at, const std::string& image,
             const std::string& dir) {
  mkdir(dir.c_str(), 0755);
  MakeBaseFs(image, blocks, ScenarioInodes(scenario), seed, kMkfsTime);
  Gen gen;
  gen.seed = seed;
  gen.exclude_at = exclude_at;
  gen.expect_dir = dir;
  gen.snaps.reserve(64);
  g_gen = &gen;
  gen.fs = OpenFs(image, false);
  gen.InstallAllocHooks();
  gen.SetTime(kMkfsTime + 10);
  SetupNext3(gen);
  RunScenario(gen, scenario);
  gen.Flush();
  WriteManifest(gen, dir + "/live.manifest", /*snapshot_view=*/false);
  WriteLists(gen);
  Check(ext2fs_close_free(&gen.fs), "close");
  g_gen = nullptr;
  std::string stats;
  std::vector<std::string> errors = CheckImage(image, dir, &stats);
  std::ofstream(dir + "/stats.txt", std::ios::trunc) << stats;
  for (auto& e : errors)
    fprintf(stderr, "next3gen: self-check: %s\n", e.c_str());
  return errors.empty() ? 0 : 1;
}

bool Value(const char* arg, const char* name, std::string& out) {
  size_t n = strlen(name);
  if (strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  out = arg + n + 1;
  return true;
}

}  // namespace
}  // namespace n3g

int main(int argc, char** argv) {
  using namespace n3g;
  initialize_ext2_error_table();
  std::string seed = "1", scenario = "busy", blocks, damage, exclude = "inode",
              v;
  std::vector<std::string> pos;
  bool verify = false;
  for (int i = 1; i < argc; i++) {
    if (Value(argv[i], "--seed", v))
      seed = v;
    else if (Value(argv[i], "--scenario", v))
      scenario = v;
    else if (Value(argv[i], "--blocks", v))
      blocks = v;
    else if (Value(argv[i], "--exclude", v))
      exclude = v;
    else if (Value(argv[i], "--damage", v))
      damage = v;
    else if (strcmp(argv[i], "--verify") == 0)
      verify = true;
    else if (argv[i][0] == '-' && argv[i][1])
      return Usage();
    else
      pos.push_back(argv[i]);
  }
  try {
    if (!damage.empty()) {
      if (pos.size() != 1 || !DamageKnown(damage)) return Usage();
      Damage(pos[0], damage);
      return 0;
    }
    if (verify) {  // self-check only, of an existing image and outputs
      if (pos.size() != 2) return Usage();
      std::vector<std::string> errors = CheckImage(pos[0], pos[1]);
      for (auto& e : errors)
        fprintf(stderr, "next3gen: self-check: %s\n", e.c_str());
      return errors.empty() ? 0 : 1;
    }
    if (pos.size() != 2 || !ScenarioKnown(scenario)) return Usage();
    char* end = nullptr;
    uint64_t s = strtoull(seed.c_str(), &end, 10);
    if (seed.empty() || *end) return Usage();
    uint64_t n = ScenarioBlocks(scenario);
    if (!blocks.empty()) {
      n = strtoull(blocks.c_str(), &end, 10);
      // giant needs blocks above 2^20 + 2^30; next3 maps at most 2^32.
      uint64_t max =
          scenario == "giant" ? (1ull << 32) : (1ull << 20) + (1ull << 30);
      uint64_t min =
          scenario == "giant" ? (1ull << 20) + (1ull << 30) + 3 * 32768 : 40000;
      if (*end || n < min || n >= max) return Usage();
    }
    ExcludeAt at = ExcludeAt::kInode;
    if (exclude == "gdt")
      at = ExcludeAt::kGdt;
    else if (exclude == "both")
      at = ExcludeAt::kBoth;
    else if (exclude != "inode")
      return Usage();
    return Generate(s, scenario, n, at, pos[0], pos[1]);
  } catch (const std::exception& e) {
    fprintf(stderr, "next3gen: %s\n", e.what());
    return 1;
  }
}
