#include "metrics/catalogue.h"

namespace dsbench::metrics {

const std::vector<MetricInfo>& metric_catalogue() {
  static const std::vector<MetricInfo> catalogue = {
      {"dreamsim_scene_portrait", false, "DreamSim distance", "whole scene vs the portraits of its subjects"},
      {"dnc_ds", true, "D&C-DS score", "MuDI detect-and-compare score of the scene's crops vs portrait crops"},
      {"dnc_dino", true, "D&C-DINO score", "MuDI detect-and-compare score with DINOv2 mean-token embeddings"},
      {"dnc_ds_subject", false, "DreamSim distance", "per detected subject: scene crop vs portrait crop"},
      {"dnc_ds_subject_strict", false, "DreamSim distance", "as dnc_ds_subject, an undetected subject counting 1"},
      {"detection_rate", true, "fraction", "subjects found in the scene / subjects looked for"},
      {"scene_consistency", false, "DreamSim distance", "a subject's crops across the story's scenes"},
      {"clip_t", true, "CLIP score", "100 * max(cos, 0) between the scene image and its prompt"},
      {"aesthetic", true, "aesthetic score (1-10)", "LAION aesthetic predictor on the scene's CLIP ViT-L/14 embedding"},
  };
  return catalogue;
}

std::vector<std::string> metric_names() {
  std::vector<std::string> names;
  for (const auto& metric : metric_catalogue()) names.push_back(metric.name);
  return names;
}

const MetricInfo* find_metric(const std::string& name) {
  for (const auto& metric : metric_catalogue()) {
    if (metric.name == name) return &metric;
  }
  return nullptr;
}

}  // namespace dsbench::metrics
