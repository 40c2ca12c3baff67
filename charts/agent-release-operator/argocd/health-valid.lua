-- Argo CD health check of an EvalReport or a ReleasePolicy (agentrelease.dev/v1alpha1): both
-- carry one `Valid` condition, written by the operator once it has checked the object beyond
-- the CRD schema. argocd-cm keys: resource.customizations.health.agentrelease.dev_EvalReport
-- and resource.customizations.health.agentrelease.dev_ReleasePolicy (README.md beside this).
--
--   Valid=True   Healthy     message: the summary (pass rates, or the canary plan)
--   Valid=False  Degraded    message: what is wrong (a release naming it will block)
--   no condition, or one older than the spec: Progressing (waiting for the operator)
local hs = {}
local status = obj.status or {}
local valid = nil
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Valid" then
      valid = condition
    end
  end
end

local generation = obj.metadata.generation
local seen = status.observedGeneration
if valid ~= nil and valid.observedGeneration ~= nil then
  seen = valid.observedGeneration
end
if valid == nil or (generation ~= nil and seen ~= nil and seen < generation) then
  hs.status = "Progressing"
  hs.message = "waiting for the operator"
  return hs
end

if valid.status == "True" then
  hs.status = "Healthy"
elseif valid.status == "False" then
  hs.status = "Degraded"
else
  hs.status = "Unknown"
end
hs.message = valid.reason or ""
if valid.message ~= nil and valid.message ~= "" then
  hs.message = hs.message .. ": " .. valid.message
end
return hs
