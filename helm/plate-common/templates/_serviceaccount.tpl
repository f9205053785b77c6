{{/*
The pods' ServiceAccount (when `serviceAccount.create`); its token is mounted only when
`serviceAccount.automount`. The app's SecretStore logs in to OpenBao as this account, so it syncs
first (Argo CD wave -3).

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
  annotations:
    # before the app's SecretStore (wave -2), which logs in to OpenBao as this account
    argocd.argoproj.io/sync-wave: "-3"
    {{- with .Values.serviceAccount.annotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
automountServiceAccountToken: {{ .Values.serviceAccount.automount }}
{{- end }}
{{- end }}
