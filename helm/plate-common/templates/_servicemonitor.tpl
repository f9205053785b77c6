{{/*
A Prometheus Operator ServiceMonitor of the app's Service (when `metrics.serviceMonitor.enabled`,
off by default), rendered only when the cluster serves `monitoring.coreos.com/v1`: Argo CD hands
Helm the cluster's API versions, so a cluster without the Prometheus Operator gets no object it
would refuse. It selects the release's Services except a headless one (label
`plate.dev/headless`), so each pod is scraped once, on the Service port
`metrics.serviceMonitor.port`. The platform's Prometheus picks up ServiceMonitors in every
namespace; the release's NetworkPolicy admits it (`networkPolicy.prometheusFrom`). It carries no
credentials, files or proxy and follows no redirect: plate-<env> admits no monitor that does
(components/gitops/admission.py).

Usage, in an app chart's templates/servicemonitor.yaml:
{{ include "plate-common.serviceMonitor" . }}
*/}}
{{- define "plate-common.serviceMonitor" -}}
{{- $monitor := .Values.metrics.serviceMonitor -}}
{{- if and $monitor.enabled (.Capabilities.APIVersions.Has "monitoring.coreos.com/v1") -}}
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata:
  name: {{ include "plate-common.fullname" . }}
  labels:
    {{- include "plate-common.labels" . | nindent 4 }}
    {{- with $monitor.labels }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  selector:
    matchLabels:
      {{- include "plate-common.selectorLabels" . | nindent 6 }}
    matchExpressions:
      - key: plate.dev/headless
        operator: DoesNotExist
  endpoints:
    - port: {{ $monitor.port }}
      path: {{ $monitor.path }}
      interval: {{ $monitor.interval }}
      # the apps namespace's admission policy (components/gitops/admission.py) refuses a
      # monitor that lets Prometheus follow a target's redirect elsewhere
      followRedirects: false
{{- end }}
{{- end }}
