// The LLM backends. `openai` renders the versioned templates, asks a chat-completions
// endpoint (or the call store, for a request it has seen), validates the answer and
// sends at most max_repairs follow-ups quoting the validation errors; a story whose
// answer is still invalid is a core::RunError for that story. `replay` builds exactly the
// same requests but answers them only from the call store: a miss is a RunError naming
// the story and the request hash, and it never opens a socket.
//
// Every exchange is recorded (the request body without any key, the answer, tokens,
// latency, template hash, valid/invalid) and reported as a CallEvent.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "pipeline/director/chat_client.h"
#include "pipeline/director/director.h"
#include "pipeline/director/templates.h"

namespace dsbench::director {

// The values the templates see for `story` (known_placeholders()).
std::map<std::string, std::string> template_values(const datasets::Story& story, std::size_t max_scenes);

// The system and first user message of a story.
std::vector<ChatMessage> first_messages(const PromptTemplates& templates, const datasets::Story& story,
                                        std::size_t max_scenes);

// kind "openai" or "replay" (make_director dispatches here). `store` may be null for
// openai (then nothing is cached or recorded); replay throws core::InputError without one.
std::unique_ptr<Director> make_llm_director(const BackendSettings& settings, std::shared_ptr<CallStore> store);

}  // namespace dsbench::director
