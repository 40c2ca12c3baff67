-- Argo CD health check of an AgentRelease (agentrelease.dev/v1alpha1), read from the status
-- the operator writes. argocd-cm key: resource.customizations.health.agentrelease.dev_AgentRelease
-- (README.md beside this file). Lua 5.1, no libraries beyond string formatting.
--
--   Promoted                             Healthy      the candidate serves all traffic
--   Superseded                           Healthy      final; a newer release of the agent
--                                                     drives its Rollout and carries its health
--   Pending, Gating, Canary, Promoting   Progressing  gates or canary steps under way
--   Blocked, RolledBack, Failed          Degraded     a person has to look
--   no status yet, or status older than the spec      Progressing (waiting for the operator)
--   a phase this check does not know                  Unknown
local hs = {}
local status = obj.status

if status == nil or status.phase == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the operator"
  return hs
end

local generation = obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.status = "Progressing"
  hs.message = "waiting for the operator to observe generation " .. generation
  return hs
end

local health = {
  Promoted = "Healthy",
  Superseded = "Healthy",
  Pending = "Progressing",
  Gating = "Progressing",
  Canary = "Progressing",
  Promoting = "Progressing",
  Blocked = "Degraded",
  RolledBack = "Degraded",
  Failed = "Degraded",
}
hs.status = health[status.phase] or "Unknown"

-- "<phase>: <reason>: <message> (step 2/4 20%)", leaving out what status does not have.
local text = status.phase
if status.reason ~= nil and status.reason ~= "" and status.reason ~= status.phase then
  text = text .. ": " .. status.reason
end
if status.message ~= nil and status.message ~= "" then
  text = text .. ": " .. status.message
elseif status.supersededBy ~= nil then
  text = text .. ": superseded by " .. status.supersededBy
end
if status.progress ~= nil and status.progress ~= "" then
  text = text .. " (step " .. status.progress .. ")"
elseif status.step ~= nil and status.weight ~= nil then
  text = text .. " (step " .. status.step .. ", weight " .. status.weight .. "%)"
end
hs.message = text
return hs
