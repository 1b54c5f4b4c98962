"""Contains all the data models used in inputs/outputs"""

from .actor import Actor
from .actor_type import ActorType
from .add_codes import AddCodes
from .api_key import ApiKey
from .assign_bulk_body import AssignBulkBody
from .assign_next_body import AssignNextBody
from .attempt_status import AttemptStatus
from .book import Book
from .book_settings import BookSettings
from .book_settings_code_pattern_type_0 import BookSettingsCodePatternType0
from .book_settings_metadata import BookSettingsMetadata
from .book_stats import BookStats
from .book_status import BookStatus
from .bucket import Bucket
from .code_selection import CodeSelection
from .code_verdict import CodeVerdict
from .code_with_details import CodeWithDetails
from .code_with_details_metadata_type_0 import CodeWithDetailsMetadataType0
from .counts import Counts
from .coupon import Coupon
from .coupon_metadata_type_0 import CouponMetadataType0
from .coupon_status import CouponStatus
from .create_api_key import CreateApiKey
from .create_book import CreateBook
from .create_book_code_pattern_type_0 import CreateBookCodePatternType0
from .create_book_metadata_type_0 import CreateBookMetadataType0
from .create_webhook import CreateWebhook
from .created_api_key import CreatedApiKey
from .created_webhook import CreatedWebhook
from .delivery_attempt import DeliveryAttempt
from .discount import Discount
from .error_body import ErrorBody
from .error_code import ErrorCode
from .error_detail import ErrorDetail
from .event import Event
from .event_data import EventData
from .event_type import EventType
from .generate_spec import GenerateSpec
from .job import Job
from .job_error import JobError
from .job_kind import JobKind
from .job_status import JobStatus
from .lock import Lock
from .lock_body import LockBody
from .multi_redemption import MultiRedemption
from .multi_validation import MultiValidation
from .order import Order
from .order_item import OrderItem
from .page_api_key import PageApiKey
from .page_book import PageBook
from .page_coupon import PageCoupon
from .page_delivery_attempt import PageDeliveryAttempt
from .page_event import PageEvent
from .page_redemption import PageRedemption
from .page_webhook import PageWebhook
from .redeem_body import RedeemBody
from .redeem_body_metadata_type_0 import RedeemBodyMetadataType0
from .redeem_item import RedeemItem
from .redemption import Redemption
from .redemption_bucket import RedemptionBucket
from .redemption_metadata_type_0 import RedemptionMetadataType0
from .redemption_status import RedemptionStatus
from .redemptions_body import RedemptionsBody
from .reward import Reward
from .reward_kind import RewardKind
from .scope import Scope
from .top_user import TopUser
from .unlock_body import UnlockBody
from .update_api_key import UpdateApiKey
from .update_book import UpdateBook
from .update_book_code_pattern_type_0 import UpdateBookCodePatternType0
from .update_book_metadata_type_0 import UpdateBookMetadataType0
from .update_coupon import UpdateCoupon
from .update_coupon_metadata_type_0 import UpdateCouponMetadataType0
from .user_body import UserBody
from .validate_body import ValidateBody
from .validation import Validation
from .validations_body import ValidationsBody
from .webhook import Webhook
from .webhook_status import WebhookStatus

__all__ = (
    "Actor",
    "ActorType",
    "AddCodes",
    "ApiKey",
    "AssignBulkBody",
    "AssignNextBody",
    "AttemptStatus",
    "Book",
    "BookSettings",
    "BookSettingsCodePatternType0",
    "BookSettingsMetadata",
    "BookStats",
    "BookStatus",
    "Bucket",
    "CodeSelection",
    "CodeVerdict",
    "CodeWithDetails",
    "CodeWithDetailsMetadataType0",
    "Counts",
    "Coupon",
    "CouponMetadataType0",
    "CouponStatus",
    "CreateApiKey",
    "CreateBook",
    "CreateBookCodePatternType0",
    "CreateBookMetadataType0",
    "CreateWebhook",
    "CreatedApiKey",
    "CreatedWebhook",
    "DeliveryAttempt",
    "Discount",
    "ErrorBody",
    "ErrorCode",
    "ErrorDetail",
    "Event",
    "EventData",
    "EventType",
    "GenerateSpec",
    "Job",
    "JobError",
    "JobKind",
    "JobStatus",
    "Lock",
    "LockBody",
    "MultiRedemption",
    "MultiValidation",
    "Order",
    "OrderItem",
    "PageApiKey",
    "PageBook",
    "PageCoupon",
    "PageDeliveryAttempt",
    "PageEvent",
    "PageRedemption",
    "PageWebhook",
    "RedeemBody",
    "RedeemBodyMetadataType0",
    "RedeemItem",
    "Redemption",
    "RedemptionBucket",
    "RedemptionMetadataType0",
    "RedemptionStatus",
    "RedemptionsBody",
    "Reward",
    "RewardKind",
    "Scope",
    "TopUser",
    "UnlockBody",
    "UpdateApiKey",
    "UpdateBook",
    "UpdateBookCodePatternType0",
    "UpdateBookMetadataType0",
    "UpdateCoupon",
    "UpdateCouponMetadataType0",
    "UserBody",
    "ValidateBody",
    "Validation",
    "ValidationsBody",
    "Webhook",
    "WebhookStatus",
)
