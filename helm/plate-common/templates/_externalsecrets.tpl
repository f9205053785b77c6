{{/*
The app's own SecretStore and its ExternalSecrets (External Secrets Operator,
`external-secrets.io/v1`), read from OpenBao's kv-v2 mount `global.openbao.mount` (keys
`<env>/<name>`; names agreed in components/names.py). The store logs in to OpenBao as the app's
own ServiceAccount with the app's own role (`externalSecrets.openbaoRole`, which the child
Application passes: names.app_secret_role), which reads `plate/<env>/<app>` and
`plate/<env>/harbor-pull` and nothing else; no ExternalSecret of an app goes through a
ClusterSecretStore or another app's store (the apps namespace's admission policy refuses it,
components/gitops/admission.py). The store (with the ServiceAccount) syncs in Argo CD wave -2, the
ExternalSecrets in wave -1: Argo CD waits until each is Healthy (the store validated, the Secret
written) before the next wave, so no pod starts without its environment or pull credentials.

Usage, in an app chart's templates/externalsecrets.yaml:
{{ include "plate-common.externalSecrets" . }}
*/}}
{{- define "plate-common.externalSecrets" -}}
{{- if .Values.externalSecrets.enabled }}
{{- include "plate-common.secretStore" . }}
---
{{ include "plate-common.envExternalSecret" . }}
---
{{ include "plate-common.pullExternalSecret" . }}
{{- end }}
{{- end }}

{{/*
Name of the app's SecretStore: the release's full name (one store per app).
*/}}
{{- define "plate-common.secretStoreName" -}}
{{- include "plate-common.fullname" . }}
{{- end }}

{{/*
The app's SecretStore: OpenBao at `global.openbao.address` over TLS, verified against the CA in
the ConfigMap `global.openbao.caConfigMap` (key `ca.crt`, created in plate-<env> by the program),
Kubernetes auth at `global.openbao.authMount` with a token External Secrets requests for the
app's ServiceAccount. A namespaced store reads a ConfigMap of its own namespace only.
Ref: external-secrets helm-chart-2.9.0 SecretStore v1 `provider.vault.caProvider` ("namespace: can
only be defined when used in a ClusterSecretStore") and `auth.kubernetes.serviceAccountRef`.
*/}}
{{- define "plate-common.secretStore" -}}
{{- if not .Values.serviceAccount.create }}
{{- fail "externalSecrets.enabled needs serviceAccount.create: the app's OpenBao role is bound to the app's own ServiceAccount" }}
{{- end }}
{{- $openbao := .Values.global.openbao | default dict }}
apiVersion: external-secrets.io/v1
kind: SecretStore
metadata:
  name: {{ include "plate-common.secretStoreName" . }}
  labels:
    {{- include "plate-common.labels" . | nindent 4 }}
  annotations:
    argocd.argoproj.io/sync-wave: "-2"
spec:
  provider:
    vault:
      server: {{ required "global.openbao.address is missing: the environment facts come from the generated Argo CD Application" $openbao.address | quote }}
      path: {{ required "global.openbao.mount is missing" $openbao.mount | quote }}
      version: v2
      caProvider:
        type: ConfigMap
        name: {{ required "global.openbao.caConfigMap is missing" $openbao.caConfigMap | quote }}
        key: ca.crt
      auth:
        kubernetes:
          mountPath: {{ required "global.openbao.authMount is missing" $openbao.authMount | quote }}
          role: {{ required "externalSecrets.openbaoRole is missing: the child Application passes the app's OpenBao role" .Values.externalSecrets.openbaoRole | quote }}
          serviceAccountRef:
            name: {{ include "plate-common.serviceAccountName" . }}
{{- end }}

{{/*
The app's environment: every field of `plate/<env>/<app>` becomes a key of the Secret
`<fullname>-env`, which the pods read with envFrom. OpenBao's self-initialisation seeds an empty
entry for every app; deletionPolicy Merge makes External Secrets write the Secret also when the
entry holds no field yet (with Retain, v2.9.0 marks an empty result Ready and returns before
creating anything - pkg/controllers/externalsecret/externalsecret_controller.go, `len(dataMap) ==
0` - so an app without secret values never started). New values are read every refreshInterval.
`externalSecrets.requiredKeys`: the keys the app cannot start without. Each is also a `data`
entry (remoteRef key `<env>/<app>`, property the key), read on its own: External Secrets v2.9.0
answers a missing property with an error ("cannot find secret data for key", not its
NoSecretError: providers/v1/vault/client_get.go getSecretValue), so GetProviderSecretData fails
and the ExternalSecret is Ready False with reason SecretSyncedError
(pkg/controllers/externalsecret/externalsecret_controller_secret.go, externalsecret_controller.go
markAsFailed): the Secret is not written (an existing one is not updated), the pods wait for it,
and ops/health_gate.py names the app. With required keys the deletionPolicy is Retain: with Merge
a missing entry (NoSecretError) would be skipped for `data` as for `dataFrom` and the Secret written
without the keys; with Retain it fails the sync too, and a successful read is never empty. No
required key: the app starts with whatever the entry holds.
*/}}
{{- define "plate-common.envExternalSecret" -}}
{{- $path := printf "%s/%s" (include "plate-common.global" (list . "environment")) .Chart.Name }}
{{- $required := .Values.externalSecrets.requiredKeys | default list }}
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: {{ include "plate-common.envSecretName" . }}
  labels:
    {{- include "plate-common.labels" . | nindent 4 }}
  annotations:
    argocd.argoproj.io/sync-wave: "-1"
spec:
  refreshInterval: {{ .Values.externalSecrets.refreshInterval | quote }}
  secretStoreRef:
    kind: SecretStore
    name: {{ include "plate-common.secretStoreName" . }}
  target:
    name: {{ include "plate-common.envSecretName" . }}
    creationPolicy: Owner
    deletionPolicy: {{ ternary "Retain" "Merge" (gt (len $required) 0) }}
  dataFrom:
    - extract:
        key: {{ $path }}
  {{- with $required }}
  data:
    {{- range . }}
    - secretKey: {{ . | quote }}
      remoteRef:
        key: {{ $path }}
        property: {{ . | quote }}
    {{- end }}
  {{- end }}
{{- end }}

{{/*
The namespace's Harbor pull secret `harbor-pull` (type kubernetes.io/dockerconfigjson), built
from the `dockerconfigjson` field of `plate/<env>/harbor-pull` (the pull-only robot the bootstrap
Job writes). Every app chart renders one, named after the app, because every app's pods need the
Secret before they start and Argo CD orders waves only within one Application. All of them
write the same bytes to the one Secret, so they use creationPolicy Orphan: with Owner, External
Secrets lets only one ExternalSecret own a target and fails the others ("target is owned by
another ExternalSecret"). Deleting one app therefore leaves the Secret to the others.
The `{{ .dockerconfigjson }}` below is External Secrets' template, not Helm's: Helm prints it
verbatim.
It refreshes every `plate-common.pullRefreshInterval`, not `externalSecrets.refreshInterval`: the
bootstrap Job (ops/harbor_bootstrap.py) replaces a pull robot by writing a new one to OpenBao and
deletes the previous robot only once this Secret carries the new one, waiting at most its
SYNC_TIMEOUT (300 s); tests/operations/test_harbor_bootstrap.py keeps the two in step.
*/}}
{{- define "plate-common.pullExternalSecret" -}}
apiVersion: external-secrets.io/v1
kind: ExternalSecret
metadata:
  name: {{ printf "%s-%s" (include "plate-common.fullname" .) (include "plate-common.pullSecretName" .) | trunc 63 | trimSuffix "-" }}
  labels:
    {{- include "plate-common.labels" . | nindent 4 }}
  annotations:
    argocd.argoproj.io/sync-wave: "-1"
spec:
  refreshInterval: {{ include "plate-common.pullRefreshInterval" . | quote }}
  secretStoreRef:
    kind: SecretStore
    name: {{ include "plate-common.secretStoreName" . }}
  target:
    name: {{ include "plate-common.pullSecretName" . }}
    creationPolicy: Orphan
    deletionPolicy: Retain
    template:
      engineVersion: v2
      type: kubernetes.io/dockerconfigjson
      data:
        .dockerconfigjson: {{ "{{ .dockerconfigjson }}" | quote }}
  data:
    - secretKey: dockerconfigjson
      remoteRef:
        key: {{ printf "%s/%s" (include "plate-common.global" (list . "environment")) (include "plate-common.pullSecretName" .) }}
        property: dockerconfigjson
{{- end }}

{{/*
How often the pull secret's ExternalSecret re-reads OpenBao: a rotated pull robot reaches the
Secret within it (the previous robot is deleted only after that; see pullExternalSecret).
*/}}
{{- define "plate-common.pullRefreshInterval" -}}
2m
{{- end }}
