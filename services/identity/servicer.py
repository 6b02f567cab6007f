"""IdentityService over gRPC: requests become use-case calls, results become responses. Nothing else.

Domain errors propagate to the runtime's ErrorInterceptor, which maps them to status codes.
"""

from __future__ import annotations

from typing import Any

import grpc.aio
from iot.identity.v1 import identity_pb2, identity_pb2_grpc

from services.identity.convert import (
    jwk_to_proto,
    preferences_patch,
    token_to_proto,
    user_to_proto,
)
from services.identity.domain.service import IdentityService, NewUser
from services.runtime.context import current_caller
from services.runtime.messages import pagination_message

Context = grpc.aio.ServicerContext[Any, Any]


class IdentityServicer(identity_pb2_grpc.IdentityServiceServicer):
    def __init__(self, service: IdentityService):
        self._service = service

    async def IssueToken(
        self, request: identity_pb2.IssueTokenRequest, context: Context
    ) -> identity_pb2.IssueTokenResponse:
        return token_to_proto(await self._service.issue_token(request.email, request.password))

    async def GetJwks(self, request: identity_pb2.GetJwksRequest, context: Context) -> identity_pb2.GetJwksResponse:
        return identity_pb2.GetJwksResponse(keys=[jwk_to_proto(k) for k in await self._service.public_keys()])

    async def GetProfile(
        self, request: identity_pb2.GetProfileRequest, context: Context
    ) -> identity_pb2.GetProfileResponse:
        return identity_pb2.GetProfileResponse(user=user_to_proto(await self._service.get_profile(current_caller())))

    async def UpdateProfile(
        self, request: identity_pb2.UpdateProfileRequest, context: Context
    ) -> identity_pb2.UpdateProfileResponse:
        user = await self._service.update_profile(
            current_caller(),
            name=request.name if request.HasField("name") else None,
            preferences=preferences_patch(request.preferences) if request.HasField("preferences") else None,
            phone_number=request.phone_number if request.HasField("phone_number") else None,
        )
        return identity_pb2.UpdateProfileResponse(user=user_to_proto(user))

    async def UpdatePreferences(
        self, request: identity_pb2.UpdatePreferencesRequest, context: Context
    ) -> identity_pb2.UpdatePreferencesResponse:
        user = await self._service.update_preferences(current_caller(), preferences_patch(request.preferences))
        return identity_pb2.UpdatePreferencesResponse(user=user_to_proto(user))

    async def RegisterDeviceToken(
        self, request: identity_pb2.RegisterDeviceTokenRequest, context: Context
    ) -> identity_pb2.RegisterDeviceTokenResponse:
        user = await self._service.register_device_token(current_caller(), request.token, request.platform)
        return identity_pb2.RegisterDeviceTokenResponse(user=user_to_proto(user))

    async def ListUsers(
        self, request: identity_pb2.ListUsersRequest, context: Context
    ) -> identity_pb2.ListUsersResponse:
        page = await self._service.list_users(
            current_caller(),
            role=request.role if request.HasField("role") else None,
            page=request.page if request.HasField("page") else None,
            page_size=request.page_size if request.HasField("page_size") else None,
        )
        return identity_pb2.ListUsersResponse(
            items=[user_to_proto(u) for u in page.items], pagination=pagination_message(page)
        )

    async def CreateUser(
        self, request: identity_pb2.CreateUserRequest, context: Context
    ) -> identity_pb2.CreateUserResponse:
        new_user = NewUser(
            email=request.email,
            name=request.name,
            role=request.role,
            password=request.password if request.HasField("password") else None,
            preferences=preferences_patch(request.preferences) if request.HasField("preferences") else None,
        )
        created = await self._service.create_user(current_caller(), new_user)
        return identity_pb2.CreateUserResponse(user=user_to_proto(created.user, created.temporary_password))

    async def GetUser(self, request: identity_pb2.GetUserRequest, context: Context) -> identity_pb2.GetUserResponse:
        return identity_pb2.GetUserResponse(
            user=user_to_proto(await self._service.get_user(current_caller(), request.user_id))
        )

    async def ListUsersToNotify(
        self, request: identity_pb2.ListUsersToNotifyRequest, context: Context
    ) -> identity_pb2.ListUsersToNotifyResponse:
        users = await self._service.users_to_notify(current_caller(), request.organization_id)
        return identity_pb2.ListUsersToNotifyResponse(users=[user_to_proto(u) for u in users])

    async def UpdateUserRole(
        self, request: identity_pb2.UpdateUserRoleRequest, context: Context
    ) -> identity_pb2.UpdateUserRoleResponse:
        user = await self._service.update_role(current_caller(), request.user_id, request.role)
        return identity_pb2.UpdateUserRoleResponse(user=user_to_proto(user))
