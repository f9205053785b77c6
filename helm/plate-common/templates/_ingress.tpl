{{/*
Public host of an app: `<ingress.host>.<global.domain>`.
*/}}
{{- define "plate-common.ingressHost" -}}
{{- printf "%s.%s" .Values.ingress.host (include "plate-common.global" (list . "domain")) }}
{{- end }}

{{/*
The app's Ingress (when `ingress.enabled`): the environment's IngressClass, and TLS from the
environment's cert-manager ClusterIssuer. Controller-neutral on purpose (no controller-specific
annotations): the platform's ingress controller is chosen per stack (`ingress_class`).
Routes `ingress.path` to the Service port named `http`.

Usage, in an app chart's templates/ingress.yaml:
{{ include "plate-common.ingress" . }}
*/}}
{{- define "plate-common.ingress" -}}
{{- if .Values.ingress.enabled -}}
{{- $host := include "plate-common.ingressHost" . -}}
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: {{ include "plate-common.fullname" . }}
  labels:
    {{- include "plate-common.labels" . | nindent 4 }}
  annotations:
    cert-manager.io/cluster-issuer: {{ include "plate-common.global" (list . "issuer") | quote }}
spec:
  ingressClassName: {{ include "plate-common.global" (list . "ingressClass") }}
  tls:
    - hosts:
        - {{ $host | quote }}
      secretName: {{ include "plate-common.fullname" . }}-tls
  rules:
    - host: {{ $host | quote }}
      http:
        paths:
          - path: {{ .Values.ingress.path }}
            pathType: Prefix
            backend:
              service:
                name: {{ include "plate-common.fullname" . }}
                port:
                  name: http
{{- end }}
{{- end }}
