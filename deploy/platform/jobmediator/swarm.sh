#!/bin/bash
# Lifecycle of the Job Mediator package in a jembi/platform (Instant OpenHIE
# v2) deployment: swarm.sh init|up|down|destroy [dev].
#
# Honest note: this script is run by the platform CLI inside the
# openhie/package-base image (jembi/platform builds FROM it). The helpers it
# sources (utils/docker-utils.sh, utils/log.sh: docker::deploy_service,
# docker::deploy_config_importer, docker::scale_services,
# docker::stack_destroy, log, try) exist only there, next to the package
# folders; run by hand outside that image it stops at the `source` lines.
# deploy/deploy_test.go checks its syntax with bash -n; it has not been run
# against a Docker engine in CI.

declare ACTION=""
declare MODE=""
declare COMPOSE_FILE_PATH=""
declare UTILS_PATH=""
declare STACK="jobmediator"
declare SERVICE_NAME="jobmediator"

function init_vars() {
  ACTION=$1
  MODE=$2

  COMPOSE_FILE_PATH=$(
    cd "$(dirname "${BASH_SOURCE[0]}")" || exit
    pwd -P
  )
  UTILS_PATH="${COMPOSE_FILE_PATH}/../utils"

  readonly ACTION
  readonly MODE
  readonly COMPOSE_FILE_PATH
  readonly UTILS_PATH
  readonly STACK
  readonly SERVICE_NAME
}

# shellcheck disable=SC1091
function import_sources() {
  source "${UTILS_PATH}/docker-utils.sh"
  source "${UTILS_PATH}/log.sh"
}

function initialize_package() {
  local dev_compose_filename=""
  if [[ "${MODE}" == "dev" ]]; then
    log info "Running Job Mediator package in DEV mode (port 4001 published)"
    dev_compose_filename="docker-compose.dev.yml"
  else
    log info "Running Job Mediator package in PROD mode"
  fi

  # Several replicas each with their own embedded store would each run the
  # cron schedule and keep their own queue: refuse instead of misbehaving.
  if [[ "${JOBMEDIATOR_INSTANCES:-1}" -gt 1 && -z "${MONGO_URL:-}" ]]; then
    log error "JOBMEDIATOR_INSTANCES=${JOBMEDIATOR_INSTANCES} needs MONGO_URL (replicas share their queue and leases in MongoDB)"
    exit 1
  fi

  (
    docker::deploy_service "${STACK}" "${COMPOSE_FILE_PATH}" "docker-compose.yml" "${dev_compose_filename}"
    # The channel and client are imported after the mediator is up; if the
    # mediator installed its default channel first, the import updates it
    # (core matches channels by name).
    docker::deploy_config_importer "${STACK}" "${COMPOSE_FILE_PATH}/importer/docker-compose.config.yml" "jobmediator-config-importer" "jobmediator"
  ) || {
    log error "Failed to deploy the Job Mediator package"
    exit 1
  }
}

function scale_services_down() {
  docker::scale_services "${STACK}" 0
}

function destroy_package() {
  docker::stack_destroy "${STACK}"
  # Swarm configs outlive the stack; the importer's carry the package label.
  if [[ -n "$(docker config ls -qf label=name=${SERVICE_NAME})" ]]; then
    log info "Removing the package's swarm configs"
    docker config rm $(docker config ls -qf label=name=${SERVICE_NAME}) >/dev/null
  fi
}

main() {
  init_vars "$@"
  import_sources

  case "${ACTION}" in
    init | up)
      initialize_package
      ;;
    down)
      log info "Scaling down Job Mediator"
      scale_services_down
      ;;
    destroy)
      log info "Destroying Job Mediator"
      destroy_package
      ;;
    *)
      log error "Valid options are: init, up, down, or destroy"
      exit 1
      ;;
  esac
}

main "$@"
