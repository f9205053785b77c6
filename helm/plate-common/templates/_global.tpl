{{/*
Environment facts. They come from the stack file (Pulumi.<env>.yaml) through the generated
Argo CD Application (`spec.source.helm.valuesObject.global`, see components/gitops.py) and are
never written into a values file by hand. A render without them fails here, naming the key.

Usage: {{ include "plate-common.global" (list . "registry") }}
*/}}
{{- define "plate-common.global" -}}
{{- $root := index . 0 }}
{{- $key := index . 1 }}
{{- required (printf "global.%s is missing: the environment facts come from the generated Argo CD Application (components/gitops.py)" $key) (index ($root.Values.global | default dict) $key) }}
{{- end }}
