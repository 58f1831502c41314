// Scenarios: the live history between snapshot takes (busy, deleted, huge).
// Choices come from the generator's seeded random numbers only.
#ifndef E2Q_TESTS_TOOLS_NEXT3GEN_WORKLOAD_H_
#define E2Q_TESTS_TOOLS_NEXT3GEN_WORKLOAD_H_

#include <string>

namespace n3g {

class Gen;

// Default size (4 KiB blocks) and inode count for a scenario.
bool ScenarioKnown(const std::string& name);
unsigned long long ScenarioBlocks(const std::string& name);
unsigned ScenarioInodes(const std::string& name);
void RunScenario(Gen& gen, const std::string& name);

}  // namespace n3g

#endif  // E2Q_TESTS_TOOLS_NEXT3GEN_WORKLOAD_H_
