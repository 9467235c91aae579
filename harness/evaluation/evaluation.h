// Scores a run in the store: DreamSim, D&C-DS, consistency and CLIP-T from the run's
// artifacts, written back as metric_values rows (per scene and per story) and
// metric_summaries (mean, std, seeded 95 % bootstrap CI over stories; per system, per
// category, per subject count).
//
// What is read (artifact rows of the run, written by the executor or import_images):
//   portrait items (index = subject s): artifact "image"; optional kind "mask" (the
//     subject's mask in its portrait; the crop falls back to the whole portrait);
//   scene items (index = scene): artifact "image"; kind "mask" named "target_mask_SS"
//     (SS = subject index) = the subject's box in the scene. An empty mask = not detected.
//   the items' plan facts (scene prompt, subjects and their class words; facts.h), or the
//     dataset's annotations for runs without them.
// Subject boxes: from imported detections (Options::detections_file) or the detector
// plug-in (Options::detector_command), queried with the subjects' class words
// (metrics/detections.h), for every image when one is configured (the same boxes for every
// system, as D&C is published; Options::detect_masked_images); else from the masks the
// system stored.
// Metrics (every distance is DreamSim's packaged form; directions in metrics/catalogue.h):
//   dreamsim_scene_portrait   whole scene vs each portrait of its subjects (the scene's
//                             subjects when known, else every portrait of the story), mean
//   dnc_ds                    (higher is better) MuDI D&C score of the scene's crops vs
//                             portrait crops
//                             (detector: every box above threshold; a count other than
//                             the subjects' scores 0)
//   dnc_dino                  (higher is better) the same score with DINOv2 mean-token
//                             embeddings (MuDI's D&C-DINO), cosine of the raw features
//   dnc_ds_subject            per detected subject: scene crop vs portrait crop, mean
//   dnc_ds_subject_strict     same, an undetected subject counting as distance 1
//   detection_rate            (higher is better) detected subjects / subjects looked for
//   scene_consistency         (story level) per subject, mean pairwise distance of its
//                             scene crops across the story's scenes; mean over subjects
//   clip_t                    (higher is better) 100 * max(cos(CLIP image, CLIP text), 0)
//                             between the scene image and its prompt (Options::clip_text)
//   aesthetic                 (higher is better) LAION aesthetic predictor (about 1-10) on
//                             the scene's CLIP ViT-L/14 image embedding
// Story-level values (scene = -1) of the per-scene metrics are their means over scenes.
// Every image and crop is embedded once, in batches, through the store's embedding
// cache keyed by (content sha256, model id, preprocessing version); a second evaluation
// of the same run decodes no image, runs no detector and builds no network.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "harness/store/store.h"

namespace dsbench::evaluation {

struct Options {
  std::string model = "ensemble";     // a metrics::dreamsim_model_names() entry, or tiny-<name>
  std::filesystem::path weights_dir;  // <backbone>.safetensors files; empty = seeded random
                                      // weights (allowed for tiny-* models only)
  std::uint64_t random_seed = 0;
  bool allow_random_full_size = false;  // benchmarks only: random full-size weights
  int batch_size = 16;
  int threads = 0;                    // torch intra-op threads; 0 = leave as is
  // story id -> category for the per-category summaries. Empty: read from the dataset the
  // run's config names (dataset.root), when it loads; otherwise no category rows.
  std::map<std::string, std::string> story_categories;
  int bootstrap_resamples = 1000;
  std::uint64_t bootstrap_seed = 0;
  // Prompts, subjects and class words for runs whose items do not carry them (imported
  // folders): a dataset folder, matched by story id. Empty: the run config's dataset.
  std::filesystem::path dataset_root;

  // CLIP-T. Empty clip_model: not scored. A full-size model without clip_weights is
  // skipped with a note in Report::notes (the metric is scored where weights are present).
  std::string clip_model;              // metrics::clip_model_names() entry or tiny-<name>
  std::filesystem::path clip_weights;  // one safetensors file (HF CLIPModel or OpenAI keys)
  std::string clip_text = "scene";     // "scene": the director's scene prompt;
                                       // "generation": the prompt the system drew from
  // Aesthetic score (metric aesthetic): the LAION MLP on the scene's CLIP image embedding
  // (clip_model must be clip_vitl14, or tiny-* with a seeded random MLP). Off when false;
  // skipped with a note when on without weights for a full-size CLIP.
  bool aesthetic = false;
  std::filesystem::path aesthetic_weights;
  bool clip_text_metric = true;        // false: the CLIP model serves the aesthetic score only

  // D&C-DINO (metric dnc_dino): the MuDI score of the same crops with DINOv2 mean-token
  // embeddings. Empty dino_model: not scored; a full-size model without dino_weights is
  // skipped with a note in Report::notes.
  std::string dino_model;              // metrics::dinov2_model_names() entry or tiny-<name>
  std::filesystem::path dino_weights;  // one safetensors file (Hugging Face or torch.hub keys)

  // Subject boxes for images without stored masks.
  std::string detector_command;        // JSON-lines filter (metrics/detections.h); empty = none
  double detector_threshold = 0.4;
  double detector_timeout_s = 3600.0;
  std::filesystem::path detections_file;  // imported detections, keyed by image path
  // true: the detector (or file) boxes every image, also those with stored masks, so all
  // systems are scored with the same boxes; false: only images without masks.
  bool detect_masked_images = true;
};

struct Report {
  std::size_t images = 0;            // distinct images and crops needing an embedding
  std::size_t embedded = 0;          // of which computed now (the rest came from the cache)
  std::size_t values = 0;            // metric_values rows written
  std::size_t summaries = 0;         // metric_summaries rows written
  std::size_t detected_images = 0;   // images whose boxes came from a detector or file
  std::size_t clip_scored = 0;       // scenes with a CLIP-T value
  std::size_t aesthetic_scored = 0;  // scenes with an aesthetic value
  std::size_t dino_scored = 0;       // scenes with a dnc_dino value
  std::vector<std::string> notes;    // what was skipped and why
  double seconds = 0.0;
};

// The settings a run config's resolved document gives (its `evaluation` section, and
// model.threads for the torch threads); keys it lacks keep the defaults above.
Options options_from_config(const nlohmann::json& resolved_config);

// InputError for an unknown run / model / missing weights; RunError for unreadable files.
Report evaluate_run(store::Store& store, store::RunId run, const Options& options);

// Imports a folder of images that dsbench did not make as a new run (status "imported").
// Layouts (detected per story folder):
//   dsbench:   DIR/<story>/portrait_SS.png [portrait_SS_mask.png]
//              DIR/<story>/scene_NN.png    [scene_NN_mask_SS.png ...]
//   official DreamStory output: DIR/<story>/<scene folder>/output_image_XX.png,
//              source_mask_XX.png, target_mask_XX.png: one folder per scene holding the
//              final batch [portrait_0 .. portrait_{S-1}, scene] (S = number of source
//              masks); portraits are taken from the first scene folder (sorted by name).
// `system` names the imported system in the run's rows. Returns the new run id.
store::RunId import_images(store::Store& store, const std::filesystem::path& dir, const std::string& system);

// Images per second of DreamSim's network (normalisation + backbones, random weights of
// `model`'s shapes) on random preprocessed pixels: one warm-up batch, then `iterations`
// batches of `batch` images at `threads` torch threads. For `dsbench bench metrics`.
double dreamsim_images_per_second(const std::string& model, int threads, int batch, int iterations);

}  // namespace dsbench::evaluation
