{{/*
The pods' ServiceAccount (when `serviceAccount.create`); its token is mounted only when
`serviceAccount.automount`.

Usage, in an app chart's templates/serviceaccount.yaml:
{{ include "plate-common.serviceAccount" . }}
*/}}
{{- define "plate-common.serviceAccount" -}}
{{- if .Values.serviceAccount.create -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ include "plate-common.serviceAccountName" . }}
  labels:
    {{- include "plate-common.labels" . | nindent 4 }}
  {{- with .Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: {{ .Values.serviceAccount.automount }}
{{- end }}
{{- end }}
