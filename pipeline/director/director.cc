// The backend factory and the parallel planning loop.
#include "pipeline/director/director.h"

#include <algorithm>
#include <atomic>
#include <thread>

#include "core/errors.h"
#include "core/text.h"
#include "pipeline/director/llm_director.h"

namespace dsbench::director {

std::unique_ptr<Director> make_director(const BackendSettings& settings, std::shared_ptr<CallStore> store) {
  BackendSettings named = settings;
  if (named.name.empty()) named.name = named.kind;
  if (named.kind == "oracle") return make_oracle_director(named.name);
  if (named.kind == "openai" || named.kind == "replay") return make_llm_director(named, std::move(store));
  throw core::InputError(core::Location{.file = {}, .line = 0, .field = "director.backends[].kind"},
                         "director backend '" + named.name + "': unknown kind '" + named.kind + "'" +
                             core::did_you_mean(named.kind, {"oracle", "openai", "replay"}) +
                             " (expected oracle, openai or replay)");
}

std::vector<PlanOutcome> plan_stories(Director& director,
                                      const std::vector<datasets::Story>& stories,
                                      int threads) {
  std::vector<PlanOutcome> outcomes(stories.size());
  std::atomic<std::size_t> next{0};
  const auto work = [&] {
    for (std::size_t i = next++; i < stories.size(); i = next++) {
      PlanOutcome& outcome = outcomes[i];
      outcome.story_id = stories[i].id;
      try {
        outcome.plan = director.plan(stories[i]);
        outcome.ok = true;
      } catch (const std::exception& error) {
        outcome.error = error.what();
      }
    }
  };
  const int workers = std::clamp<int>(threads, 1, std::max<int>(1, static_cast<int>(stories.size())));
  std::vector<std::jthread> pool;
  for (int i = 1; i < workers; ++i) pool.emplace_back(work);
  work();
  return outcomes;
}

}  // namespace dsbench::director
