// Synthetic stories for scaling studies: N subjects (1..16) drawn from humans, animals
// and objects with varied attributes, scenes in diffusion-prompt style. The generator
// uses its own splitmix64 stream and index arithmetic (no std distributions, whose
// output differs between standard libraries), so a seed gives the same bytes anywhere.
#include <algorithm>
#include <array>
#include <numeric>

#include <nlohmann/json.hpp>

#include "core/text.h"
#include "datasets/dataset.h"

namespace dsbench::datasets {
namespace {

class Random {
 public:
  explicit Random(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
  template <typename T, std::size_t N>
  const T& pick(const std::array<T, N>& items) { return items[below(N)]; }
  template <typename T>
  void shuffle(std::vector<T>& items) {
    for (std::size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[below(i)]);
  }

 private:
  std::uint64_t state_;
};

struct Kind {
  const char* word;      // class word, also the detection keyword
  const char* family;    // human | animal | object
};

constexpr std::array<Kind, 24> kKinds = {{
    {"man", "human"},     {"woman", "human"},   {"boy", "human"},      {"girl", "human"},
    {"old man", "human"}, {"old woman", "human"}, {"knight", "human"}, {"chef", "human"},
    {"cat", "animal"},    {"dog", "animal"},    {"fox", "animal"},     {"owl", "animal"},
    {"horse", "animal"},  {"rabbit", "animal"}, {"bear", "animal"},    {"goose", "animal"},
    {"teapot", "object"}, {"lantern", "object"}, {"clock", "object"},  {"umbrella", "object"},
    {"robot", "object"},  {"violin", "object"}, {"boot", "object"},    {"kite", "object"},
}};

constexpr std::array<const char*, 24> kNames = {
    "Ada", "Bram", "Cleo", "Dov",  "Elin", "Finn", "Greta", "Hugo", "Iris", "Jory", "Kira", "Lars",
    "Mira", "Nils", "Odette", "Pim", "Quill", "Rosa", "Sven", "Tilde", "Ulla", "Vik", "Wren", "Yara"};

constexpr std::array<const char*, 12> kColours = {"red",   "blue",   "green",  "yellow",
                                                  "purple", "orange", "white", "black",
                                                  "silver", "golden", "pink",  "brown"};
constexpr std::array<const char*, 6> kSizes = {"tall", "small", "round", "slender", "tiny", "sturdy"};
constexpr std::array<const char*, 8> kHumanWear = {"a wool coat", "a straw hat", "a long scarf",
                                                   "round glasses", "a leather apron",
                                                   "a hooded cloak", "a striped sweater",
                                                   "a feathered cap"};
constexpr std::array<const char*, 6> kAnimalMarks = {"a spotted coat", "a bushy tail",
                                                     "a bell collar", "bright amber eyes",
                                                     "a white blaze", "a tiny vest"};
constexpr std::array<const char*, 6> kObjectMarks = {"brass trim", "painted flowers",
                                                     "a cracked handle", "glowing dials",
                                                     "ribbon streamers", "polished wood"};
constexpr std::array<const char*, 12> kPlaces = {
    "a sunny meadow", "a busy market square", "a snowy pine forest", "a lighthouse at dusk",
    "a cosy kitchen", "a dusty library", "a riverside dock", "a castle courtyard",
    "a moonlit garden", "a rainy street", "a mountain path", "a village fair"};
constexpr std::array<const char*, 8> kActions = {"gathered in", "walked through", "rested in",
                                                 "searched", "danced in", "waited in",
                                                 "explored", "shared a meal in"};
constexpr const char* kStyle = "storybook illustration, soft light, detailed";

std::string with_article(const std::string& phrase) {
  const char first = phrase.empty() ? 'x' : phrase.front();
  const bool vowel = std::string("aeiou").find(first) != std::string::npos;
  return (vowel ? "an " : "a ") + phrase;
}

Subject make_subject(Random& random, const std::string& name) {
  const Kind& kind = random.pick(kKinds);
  const std::string family = kind.family;
  const std::string colour = random.pick(kColours);
  const std::string size = random.pick(kSizes);
  std::string detail;
  std::string look;
  if (family == "human") {
    detail = colour + " " + random.pick(kHumanWear);
    look = with_article(size + " " + kind.word) + " in " + detail;
  } else if (family == "animal") {
    detail = random.pick(kAnimalMarks);
    look = with_article(size + " " + colour + " " + kind.word) + " with " + detail;
  } else {
    detail = random.pick(kObjectMarks);
    look = with_article(size + " " + colour + " " + kind.word) + " with " + detail;
  }
  Subject subject;
  subject.name = name;
  subject.kind = kind.word;
  subject.short_description = look;
  subject.description = "Full-body portrait of " + look + ", plain background, " + kStyle;
  return subject;
}

std::string list_phrase(const std::vector<std::string>& parts) {
  if (parts.size() == 1) return parts[0];
  std::vector<std::string> head(parts.begin(), parts.end() - 1);
  return core::join(head, ", ") + " and " + parts.back();
}

std::vector<std::vector<int>> scene_casts(Random& random, int subjects, int scenes, int per_scene) {
  std::vector<std::vector<int>> casts;
  if (per_scene == 0 || per_scene == subjects) {
    std::vector<int> all(static_cast<std::size_t>(subjects));
    std::iota(all.begin(), all.end(), 0);
    casts.assign(static_cast<std::size_t>(scenes), all);
    return casts;
  }
  // Round-robin over a shuffled order guarantees every subject appears; the rest of each
  // scene is filled with random others.
  std::vector<int> order(static_cast<std::size_t>(subjects));
  std::iota(order.begin(), order.end(), 0);
  random.shuffle(order);
  std::size_t next = 0;
  for (int s = 0; s < scenes; ++s) {
    std::vector<int> cast;
    while (static_cast<int>(cast.size()) < per_scene && next < order.size()) cast.push_back(order[next++]);
    while (static_cast<int>(cast.size()) < per_scene) {
      const int candidate = static_cast<int>(random.below(static_cast<std::size_t>(subjects)));
      if (std::find(cast.begin(), cast.end(), candidate) == cast.end()) cast.push_back(candidate);
    }
    std::sort(cast.begin(), cast.end());
    casts.push_back(std::move(cast));
  }
  return casts;
}

void check_range(const std::string& field, int value, int low, int high) {
  if (value < low || value > high) {
    throw core::InputError(core::Location{"", 0, field},
                           "is " + std::to_string(value) + "; expected " + std::to_string(low) +
                               ".." + std::to_string(high));
  }
}

}  // namespace

Dataset generate_scaling_dataset(const ScalingOptions& options) {
  check_range("generator.subjects", options.subjects, 1, 16);
  check_range("generator.stories", options.stories, 1, 10000);
  check_range("generator.scenes", options.scenes, 1, 1000);
  check_range("generator.subjects_per_scene", options.subjects_per_scene, 0, options.subjects);
  if (options.subjects_per_scene > 0 && options.scenes * options.subjects_per_scene < options.subjects) {
    throw core::InputError(core::Location{"", 0, "generator.subjects_per_scene"},
                           "is " + std::to_string(options.subjects_per_scene) + "; with " +
                               std::to_string(options.scenes) + " scenes it cannot cover " +
                               std::to_string(options.subjects) +
                               " subjects; expected scenes * subjects_per_scene >= subjects");
  }
  const std::string tag = "n" + std::to_string(options.subjects) + "-seed" + std::to_string(options.seed);
  Dataset dataset;
  dataset.name = "scaling-" + tag;
  for (int s = 0; s < options.stories; ++s) {
    // One independent stream per story: story k is the same whatever `stories` is.
    Random random(options.seed * 0x100000001B3ULL + static_cast<std::uint64_t>(s) + 1);
    Story story;
    story.id = "scaling-" + tag + "-" + (s < 10 ? "0" : "") + std::to_string(s);
    story.title = "Scaling story " + std::to_string(s) + " with " + std::to_string(options.subjects) +
                  " subject" + (options.subjects == 1 ? "" : "s");
    story.category = "scaling-" + std::to_string(options.subjects) + "-subject";
    std::vector<std::string> names(kNames.begin(), kNames.end());
    random.shuffle(names);
    for (int i = 0; i < options.subjects; ++i) {
      story.subjects.push_back(make_subject(random, names[static_cast<std::size_t>(i)]));
    }
    std::vector<std::string> passages;
    for (const auto& cast : scene_casts(random, options.subjects, options.scenes, options.subjects_per_scene)) {
      const std::string place = random.pick(kPlaces);
      const std::string action = random.pick(kActions);
      std::vector<std::string> cast_names, cast_looks;
      for (const int index : cast) {
        cast_names.push_back(story.subjects[static_cast<std::size_t>(index)].name);
        cast_looks.push_back(story.subjects[static_cast<std::size_t>(index)].short_description);
      }
      Scene scene;
      scene.subjects = cast;
      scene.text = list_phrase(cast_names) + " " + action + " " + place + ".";
      scene.prompt = list_phrase(cast_names) + " " + action + " " + place + ", " + kStyle;
      scene.rewritten_prompt = list_phrase(cast_looks) + " " + action + " " + place + ", " + kStyle;
      scene.origin = core::Location{dataset.name, 0, story.id + ".scenes[" + std::to_string(story.scenes.size()) + "]"};
      passages.push_back(scene.text);
      story.scenes.push_back(std::move(scene));
    }
    story.text = core::join(passages, " ");
    dataset.stories.push_back(std::move(story));
  }
  return dataset;
}

ScalingOptions parse_scaling_options(const nlohmann::json& params, const core::Location& where) {
  ScalingOptions options;
  if (params.is_null()) return options;
  const auto at = [&](const std::string& key) {
    return core::Location{where.file, where.line, where.field.empty() ? key : where.field + "." + key};
  };
  if (!params.is_object()) {
    throw core::InputError(where, std::string("expected a mapping of generator parameters, found ") +
                                      params.type_name());
  }
  const std::vector<std::string> known = {"subjects", "stories", "scenes", "seed", "subjects_per_scene"};
  for (const auto& item : params.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
      throw core::InputError(at(item.key()), "unknown generator parameter '" + item.key() + "'" +
                                                 core::did_you_mean(item.key(), known) +
                                                 "; expected one of: " + core::join(known, ", "));
    }
    const auto& value = item.value();
    const bool non_negative =
        value.is_number_unsigned() || (value.is_number_integer() && value.get<long long>() >= 0);
    if (!non_negative) {
      throw core::InputError(at(item.key()), "expected a non-negative integer, found " + value.dump());
    }
    if (item.key() == "seed") {
      options.seed = value.get<std::uint64_t>();
      continue;
    }
    const long long number = value.get<long long>();
    if (number > 1'000'000) {
      throw core::InputError(at(item.key()), "is " + std::to_string(number) + "; too large");
    }
    const int v = static_cast<int>(number);
    if (item.key() == "subjects") options.subjects = v;
    else if (item.key() == "stories") options.stories = v;
    else if (item.key() == "scenes") options.scenes = v;
    else options.subjects_per_scene = v;
  }
  return options;
}

}  // namespace dsbench::datasets
