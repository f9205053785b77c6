{{/*
The release's NetworkPolicy (when `networkPolicy.enabled`, the default): it selects the app's
pods, so they accept no connection except the ones listed here:
- `networkPolicy.ingressFrom` (the platform's ingress controller) to `containerPort`, when the
  chart has an Ingress and `ingress.enabled`;
- `networkPolicy.clients` (in-cluster callers; a podSelector alone means this namespace) to
  `containerPort`;
- `networkPolicy.prometheusFrom` to `containerPort`, where the app serves its metrics, when
  `metrics.serviceMonitor.enabled`;
- `networkPolicy.extraIngress`, verbatim NetworkPolicyIngressRules.
With none of them the pods accept nothing. When `networkPolicy.egress` lists connections
(verbatim NetworkPolicyEgressRules: the other apps the release calls, addresses outside the
cluster), the policy also isolates the pods' egress and opens those; the platform denies egress
in plate-<env> anyway and opens DNS there for every pod, so an app that declares nothing may
open nothing else. Kubelet probes come from the node and pass on the
CNIs the platform supports (README: "Network policies").

Usage, in an app chart's templates/networkpolicy.yaml:
{{ include "plate-common.networkPolicy" . }}
*/}}
{{- define "plate-common.networkPolicy" -}}
{{- $policy := .Values.networkPolicy -}}
{{- if $policy.enabled -}}
{{- $ports := list (dict "protocol" "TCP" "port" (int .Values.containerPort)) -}}
{{- $rules := list -}}
{{- if and (.Values.ingress | default dict).enabled $policy.ingressFrom -}}
{{- $rules = append $rules (dict "from" $policy.ingressFrom "ports" $ports) -}}
{{- end -}}
{{- with $policy.clients -}}
{{- $rules = append $rules (dict "from" . "ports" $ports) -}}
{{- end -}}
{{- $serviceMonitor := (.Values.metrics | default dict).serviceMonitor | default dict -}}
{{- if and $serviceMonitor.enabled $policy.prometheusFrom -}}
{{- $rules = append $rules (dict "from" $policy.prometheusFrom "ports" $ports) -}}
{{- end -}}
{{- $rules = concat $rules ($policy.extraIngress | default list) -}}
{{- $egress := $policy.egress | default list -}}
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: {{ include "plate-common.fullname" . }}
  labels:
    {{- include "plate-common.labels" . | nindent 4 }}
spec:
  podSelector:
    matchLabels:
      {{- include "plate-common.selectorLabels" . | nindent 6 }}
  policyTypes:
    - Ingress
    {{- if $egress }}
    - Egress
    {{- end }}
  {{- if $rules }}
  ingress:
    {{- toYaml $rules | nindent 4 }}
  {{- else }}
  ingress: []
  {{- end }}
  {{- with $egress }}
  egress:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}
