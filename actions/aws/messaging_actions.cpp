// aws.sns.publish: one message to an SNS topic (deduplicated by SNS itself on FIFO topics,
// recorded under the step's key on every topic so that a re-execution does not publish again).
// aws.secretsmanager.rotate_secret: a rotation started with a ClientRequestToken derived from
// the step's key, so that a retry makes no second new version. No secret value is read.
#include "actions/aws/context.h"

namespace firebreak::actions::aws {
namespace {

using core::ActionRequest;
using core::ActionResult;
using core::Json;
using core::ParamType;

constexpr const char* kPublish = "aws.sns.publish";
constexpr const char* kRotate = "aws.secretsmanager.rotate_secret";
constexpr const char* kSnsVersion = "2010-03-31";
constexpr const char* kPublishJournal = "sns-publish";
constexpr const char* kRotateJournal = "secretsmanager-rotate";
constexpr const char* kSecretArn = "arn:aws:secretsmanager:*:*:secret:{secret_id}-*";

// ---- aws.sns.publish ----

struct TopicState {
  std::string arn;
  bool fifo = false;
  bool content_dedup = false;
};

AwsResult<TopicState> readTopic(Client& client, const std::string& topic,
                                const CallOptions& options) {
  auto got = client.query("sns", "GetTopicAttributes", kSnsVersion, {{"TopicArn", topic}}, options);
  if (!got) return awsFail(std::move(got.error()));
  TopicState state;
  for (pugi::xml_node e : got->result().child("Attributes").children("entry")) {
    std::string key = e.child_value("key"), value = e.child_value("value");
    if (key == "TopicArn")
      state.arn = value;
    else if (key == "FifoTopic")
      state.fifo = value == "true";
    else if (key == "ContentBasedDeduplication")
      state.content_dedup = value == "true";
  }
  if (state.arn.empty()) state.arn = topic;
  return state;
}

class SnsPublishAction final : public BlockingAction {
 public:
  explicit SnsPublishAction(std::shared_ptr<Context> ctx) : BlockingAction(std::move(ctx)) {
    spec_.name = kPublish;
    spec_.summary = "Publish a message to an SNS topic (deduplicated on FIFO topics)";
    spec_.params = {
        {"topic_arn", ParamType::kString, true, nullptr, "the topic's ARN", {}, true},
        {"message", ParamType::kString, true, nullptr, "the message body", {}},
        {"subject",
         ParamType::kString,
         false,
         nullptr,
         "subject for email subscriptions: at most 100 characters, one line",
         {}},
        {"message_attributes",
         ParamType::kStringMap,
         false,
         nullptr,
         "message attributes, each a String (subscription filter policies can match them)",
         {}},
        {"message_group_id",
         ParamType::kString,
         false,
         "firebreak",
         "FIFO topics only: the message group",
         {}},
    };
    // Only a FIFO topic deduplicates (MessageDeduplicationId from the step's key, within SNS's
    // five minutes); on a standard topic a re-run after a crash between the publish and its
    // record may publish twice. A step that knows its topic is FIFO may say idempotent: true.
    spec_.idempotent = false;
    spec_.step_may_declare_idempotent = true;
    spec_.destructive = false;
    spec_.phase = core::Phase::kNotify;
    spec_.permissions = {{"sns:GetTopicAttributes", "{topic_arn}"}, {"sns:Publish", "{topic_arn}"}};
    spec_.outputs = {"topic_arn", "message_id", "fifo", "deduplication_id", "sequence_number"};
  }

  core::Status validate(const Json& params) const override {
    std::string subject = paramString(params, "subject");
    if (subject.find("{{") != std::string::npos) return {};
    if (subject.size() > 100)
      return core::fail(
          core::ErrorCode::kInvalidArgument,
          "'subject' must be at most 100 characters, not " + std::to_string(subject.size()));
    if (subject.find_first_of("\r\n") != std::string::npos)
      return core::fail(core::ErrorCode::kInvalidArgument, "'subject' must be one line");
    return {};
  }

 private:
  ActionResult act(const ActionRequest& request, bool plan) override {
    std::string topic = paramString(request.params, "topic_arn");
    if (topic.rfind("arn:", 0) != 0)
      return ActionResult::permanent(describe(request, kPublish, "'topic_arn' must be an ARN"));
    if (!request.params.contains("message") || !request.params["message"].is_string())
      return ActionResult::permanent(describe(request, kPublish, "'message' is required"));
    const std::string message = request.params["message"].get<std::string>();
    const std::string subject = paramString(request.params, "subject");
    auto attributes = snsMessageAttributes(request.params.value("message_attributes", Json()));
    if (!attributes)
      return ActionResult::permanent(
          describe(request, kPublish, "'message_attributes' must map names to strings"));
    auto client = ctx_->client(request);
    if (!client) return failed(request, kPublish, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    auto live = liveResource(*ctx_, request, kPublish, "topic", topic,
                             [&] { return readTopic(**client, topic, options); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const TopicState* state = &std::get<TopicState>(live);
    const std::string dedup = state->fifo && !request.idempotency_key.empty()
                                  ? snsDeduplicationId(request.idempotency_key)
                                  : "";
    Json output{{"topic_arn", state->arn},
                {"message_id", nullptr},
                {"fifo", state->fifo},
                {"deduplication_id", dedup.empty() ? Json() : Json(dedup)},
                {"sequence_number", nullptr}};
    if (plan) {
      output["plan"] = "would publish a " + std::to_string(message.size()) + "-byte message" +
                       (subject.empty() ? "" : " with subject '" + subject + "'") + " to " +
                       state->arn +
                       (state->fifo ? " (FIFO: deduplicated by the step's key)"
                                    : " (standard topic: no deduplication by SNS)");
      ActionResult r = ActionResult::success(output, describe(request, kPublish, "planned"));
      r.resources = 1;
      return r;
    }
    // Published already under this key (a re-execution): report that message, send nothing.
    if (auto before = ctx_->recalled(kPublishJournal, request.idempotency_key);
        before && before->value("message_id", Json()).is_string()) {
      Json again = *before;
      return ActionResult::success(
          again, describe(request, kPublish,
                          "already published as message " + again["message_id"].get<std::string>() +
                              " to " + state->arn));
    }
    QueryParams params{{"TopicArn", state->arn}, {"Message", message}};
    if (!subject.empty()) params.emplace_back("Subject", subject);
    params.insert(params.end(), attributes->begin(), attributes->end());
    if (state->fifo) {
      std::string group = paramString(request.params, "message_group_id");
      params.emplace_back("MessageGroupId", group.empty() ? "firebreak" : group);
      if (!dedup.empty()) params.emplace_back("MessageDeduplicationId", dedup);
    }
    auto published = client.value()->query("sns", "Publish", kSnsVersion, params, options);
    if (!published)
      return failed(request, kPublish, published.error(), "publishing to " + state->arn, output);
    output["message_id"] = published->result().child_value("MessageId");
    if (std::string seq = published->result().child_value("SequenceNumber"); !seq.empty())
      output["sequence_number"] = seq;
    std::string what =
        "published message " + output["message_id"].get<std::string>() + " to " + state->arn;
    // After the fact: the message is out either way; without the record a re-execution of
    // this step would publish again (deduplicated by SNS on a FIFO topic only).
    if (!ctx_->remember(kPublishJournal, request.idempotency_key, output))
      what += " (could not record it in the data dir: a re-execution would publish again)";
    return ActionResult::success(output, describe(request, kPublish, what));
  }

};

// ---- aws.secretsmanager.rotate_secret ----

struct SecretState {
  std::string arn;
  std::string name;
  bool rotation_enabled = false;
  std::string rotation_lambda_arn;
  Json versions = Json::object();  // version id -> [stages]
  std::string current;             // the AWSCURRENT version id
  std::string pending;             // the AWSPENDING one, if any
};

bool hasStage(const Json& stages, const char* stage) {
  if (!stages.is_array()) return false;
  for (const auto& s : stages)
    if (s == stage) return true;
  return false;
}

AwsResult<SecretState> readSecret(Client& client, const std::string& secret,
                                  const CallOptions& options) {
  // DescribeSecret: metadata only, never the value.
  auto got = client.json("secretsmanager", "secretsmanager", "DescribeSecret",
                         Json{{"SecretId", secret}}, options);
  if (!got) return awsFail(std::move(got.error()));
  const Json& b = got->body;
  SecretState state;
  state.arn = b.value("ARN", "");
  state.name = b.value("Name", "");
  state.rotation_enabled = b.value("RotationEnabled", false);
  state.rotation_lambda_arn = b.value("RotationLambdaARN", "");
  if (auto it = b.find("VersionIdsToStages"); it != b.end() && it->is_object()) {
    state.versions = *it;
    for (auto v = it->begin(); v != it->end(); ++v) {
      if (hasStage(*v, "AWSCURRENT")) state.current = v.key();
      if (hasStage(*v, "AWSPENDING")) state.pending = v.key();
    }
  }
  return state;
}

class RotateSecretAction final : public BlockingAction {
 public:
  explicit RotateSecretAction(std::shared_ptr<Context> ctx) : BlockingAction(std::move(ctx)) {
    spec_.name = kRotate;
    spec_.summary =
        "Rotate a Secrets Manager secret now (one new version per step, however often it is "
        "retried); no undo";
    spec_.params = {
        {"secret_id", ParamType::kString, true, nullptr, "the secret's name or ARN", {}, true},
        {"rotation_lambda_arn",
         ParamType::kString,
         false,
         nullptr,
         "the rotation function; default: the one configured on the secret",
         {}},
        {"rotate_immediately",
         ParamType::kBool,
         false,
         true,
         "false: only test the rotation function (its testSecret step) and keep the schedule",
         {}},
    };
    spec_.idempotent = true;  // the ClientRequestToken is the step's, the same at every retry
    spec_.destructive = true;
    // No undo: the rotation function changed the credential at its service too; putting the
    // old version back as AWSCURRENT would hand out a password that may no longer work, and
    // would revive the one the incident is about.
    spec_.phase = core::Phase::kContain;
    spec_.permissions = {{"secretsmanager:DescribeSecret", kSecretArn},
                         {"secretsmanager:RotateSecret", kSecretArn},
                         // The rotation function, which the parameters may not name.
                         {"lambda:InvokeFunction", "arn:aws:lambda:*:*:function:*"}};
    spec_.outputs = {"secret", "secret_arn", "previous_version", "new_version",
                     "rotation_lambda_arn"};
  }

 private:
  ActionResult act(const ActionRequest& request, bool plan) override {
    std::string secret = paramString(request.params, "secret_id");
    if (secret.empty())
      return ActionResult::permanent(describe(request, kRotate, "'secret_id' is required"));
    if (request.idempotency_key.empty())
      return ActionResult::permanent(
          describe(request, kRotate, "no idempotency key: the rotation token is derived from it"));
    std::string lambda = paramString(request.params, "rotation_lambda_arn");
    auto immediately = request.params.find("rotate_immediately");
    const bool now = immediately == request.params.end() || !immediately->is_boolean() ||
                     immediately->get<bool>();
    auto client = ctx_->client(request);
    if (!client) return failed(request, kRotate, client.error(), "setting up the AWS client");
    const CallOptions options = callOptions(request);
    auto live = liveResource(*ctx_, request, kRotate, "secret", secret,
                             [&] { return readSecret(**client, secret, options); });
    if (auto* refused = std::get_if<ActionResult>(&live)) return std::move(*refused);
    const SecretState* state = &std::get<SecretState>(live);
    const std::string token = rotationRequestToken(request.idempotency_key);
    const std::string function = lambda.empty() ? state->rotation_lambda_arn : lambda;
    Json output{{"secret", state->name},
                {"secret_arn", state->arn},
                {"previous_version", state->current.empty() ? Json() : Json(state->current)},
                {"new_version", token},
                {"rotation_lambda_arn", function.empty() ? Json() : Json(function)}};
    if (plan) {
      std::string how = !lambda.empty()     ? "with rotation function " + lambda
                        : !function.empty() ? "with its rotation function " + function
                                            : "with no rotation function configured or given "
                                              "(AWS refuses that, except for managed rotation)";
      std::string plan_text =
          state->versions.contains(token)
              ? "this step already started the rotation of " + state->arn + " (version " + token +
                    "): nothing would change"
              : std::string(now ? "would rotate " : "would test the rotation of ") + state->arn +
                    " " + how + "; AWSCURRENT is version " +
                    (state->current.empty() ? "none" : state->current) + ", the new one would be " +
                    token;
      if (!state->pending.empty() && state->pending != state->current &&
          !state->versions.contains(token))
        plan_text += " (version " + state->pending +
                     " is AWSPENDING: a rotation seems in progress, AWS may refuse another)";
      output["plan"] = plan_text;
      ActionResult r = ActionResult::success(output, describe(request, kRotate, "planned"));
      r.resources = 1;
      return r;
    }
    // The version AWSCURRENT was before the first execution, not the one it made.
    if (auto before = ctx_->recalled(kRotateJournal, request.idempotency_key)) {
      output["previous_version"] = before->value("previous_version", Json());
    } else {
      // No record (another data dir) but this step's version is current already: the one
      // before it is the version AWS labelled AWSPREVIOUS when it took over.
      if (state->versions.contains(token) && hasStage(state->versions[token], "AWSCURRENT")) {
        output["previous_version"] = Json();
        for (auto v = state->versions.begin(); v != state->versions.end(); ++v)
          if (hasStage(*v, "AWSPREVIOUS")) output["previous_version"] = v.key();
      }
      if (!ctx_->remember(kRotateJournal, request.idempotency_key, output))
        return ActionResult::retryable(describe(
            request, kRotate, "cannot record the version before the rotation in the data dir"));
    }
    if (state->versions.contains(token)) {
      // This step's rotation exists already: a second RotateSecret would start another.
      return ActionResult::success(
          output,
          describe(request, kRotate,
                   "the rotation of " + state->arn + " by this step exists already (version " +
                       token + ", " + state->versions[token].dump() + ")"));
    }
    Json body{{"SecretId", state->arn.empty() ? secret : state->arn},
              {"ClientRequestToken", token},
              {"RotateImmediately", now}};
    if (!lambda.empty()) body["RotationLambdaARN"] = lambda;
    auto rotated =
        client.value()->json("secretsmanager", "secretsmanager", "RotateSecret", body, options);
    if (!rotated)
      return failed(request, kRotate, rotated.error(), "rotating secret " + state->arn, output);
    output["new_version"] = rotated->body.value("VersionId", token);
    const std::string version = output["new_version"].get<std::string>();
    return ActionResult::success(
        output,
        describe(request, kRotate,
                 now ? "rotation of " + state->arn + " started: version " + version +
                           " becomes AWSCURRENT when the rotation function finishes (it was " +
                           (state->current.empty() ? "none" : state->current) + ")"
                     : "rotation function of " + state->arn +
                           " tested (its testSecret step, version " + version +
                           "); AWSCURRENT stays " +
                           (state->current.empty() ? "none" : state->current)));
  }

};

}  // namespace

std::unique_ptr<core::ActionProvider> makeSnsPublishAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<SnsPublishAction>(std::move(ctx));
}
std::unique_ptr<core::ActionProvider> makeRotateSecretAction(std::shared_ptr<Context> ctx) {
  return std::make_unique<RotateSecretAction>(std::move(ctx));
}

}  // namespace firebreak::actions::aws
